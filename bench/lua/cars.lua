-- Car searches over the demo airports and many rental periods. AIRPORTS and DATES come from the
-- environment (set by bench/stays.sh).
local airports = {}
for code in string.gmatch(os.getenv("AIRPORTS") or "CDG", "[^,]+") do
  table.insert(airports, code)
end
local dates = {}
for pair in string.gmatch(os.getenv("DATES") or "", "[^,]+") do
  local first, last = string.match(pair, "([^:]+):([^:]+)")
  table.insert(dates, {first, last})
end
local counter = 0

request = function()
  counter = counter + 1
  local airport = airports[(counter % #airports) + 1]
  local period = dates[(counter % #dates) + 1]
  return wrk.format("GET", "/api/listings/cars/search?location=" .. airport .. "&startDate="
    .. period[1] .. "&endDate=" .. period[2])
end
