-- Hotel searches over the demo cities and many stays, so the run measures the search path rather
-- than one cached answer. CITIES and DATES come from the environment (set by bench/stays.sh).
local cities = {}
for city in string.gmatch(os.getenv("CITIES") or "Paris", "[^,]+") do
  table.insert(cities, (city:gsub(" ", "%%20")))
end
local dates = {}
for pair in string.gmatch(os.getenv("DATES") or "", "[^,]+") do
  local check_in, check_out = string.match(pair, "([^:]+):([^:]+)")
  table.insert(dates, {check_in, check_out})
end
local counter = 0

request = function()
  counter = counter + 1
  local city = cities[(counter % #cities) + 1]
  local stay = dates[(counter % #dates) + 1]
  return wrk.format("GET", "/api/listings/hotels/search?city=" .. city .. "&checkIn=" .. stay[1]
    .. "&checkOut=" .. stay[2] .. "&guests=2")
end
