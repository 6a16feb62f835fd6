-- One-passenger bookings spread over many flights, with the bearer token of a bench user.
-- FLIGHTS (comma-separated flight ids) and TOKEN come from the environment.
local flights = {}
for id in string.gmatch(os.getenv("FLIGHTS") or "", "[^,]+") do
  table.insert(flights, id)
end
local token = os.getenv("TOKEN")
local counter = 0
local thread_id = 0

setup = function(thread)
  thread:set("thread_offset", thread_id * 7919)
  thread_id = thread_id + 1
end

request = function()
  counter = counter + 1
  local flight = flights[((counter + (thread_offset or 0)) % #flights) + 1]
  local body = '{"flightId":' .. flight .. ',"cabin":"economy","passengers":[{"name":"Bench Passenger"}]}'
  return wrk.format("POST", "/api/bookings", {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. token,
  }, body)
end
