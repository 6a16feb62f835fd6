//! With the `grpc` feature, compiles the .proto files with protox (pure Rust), so building needs no
//! `protoc` on the machine. Without it there is nothing to generate.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    #[cfg(feature = "grpc")]
    {
        let protos = ["proto/itinera/identity/v1/user_directory.proto"];
        for proto in protos {
            println!("cargo:rerun-if-changed={proto}");
        }
        let descriptors = protox::compile(protos, ["proto"])?;
        tonic_prost_build::configure()
            .build_client(true)
            .build_server(true)
            .compile_fds(descriptors)?;
    }
    Ok(())
}
