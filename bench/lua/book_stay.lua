-- One-night hotel bookings spread over many room types and nights, each thread booking as its own
-- users (one user's bookings queue on that user's limits on unpaid holds). ROOMS
-- (hotelId:roomTypeId,...), NIGHTS (dates) and TOKENS (bearer tokens) come from the environment.
local rooms = {}
for pair in string.gmatch(os.getenv("ROOMS") or "", "[^,]+") do
  local hotel, room_type = string.match(pair, "([^:]+):([^:]+)")
  table.insert(rooms, {hotel, room_type})
end
local nights = {}
for pair in string.gmatch(os.getenv("NIGHTS") or "", "[^,]+") do
  local check_in, check_out = string.match(pair, "([^:]+):([^:]+)")
  table.insert(nights, {check_in, check_out})
end
local tokens = {}
for token in string.gmatch(os.getenv("TOKENS") or "", "[^,]+") do
  table.insert(tokens, token)
end
local counter = 0
local thread_id = 0

setup = function(thread)
  thread:set("thread_offset", thread_id * 7919)
  thread_id = thread_id + 1
end

request = function()
  counter = counter + 1
  local n = counter + (thread_offset or 0)
  local room = rooms[(n % #rooms) + 1]
  local night = nights[(math.floor(n / #rooms) % #nights) + 1]
  local token = tokens[(n % #tokens) + 1]
  local body = '{"type":"hotel","hotelId":"' .. room[1] .. '","roomTypeId":"' .. room[2]
    .. '","checkIn":"' .. night[1] .. '","checkOut":"' .. night[2] .. '","guests":1}'
  return wrk.format("POST", "/api/bookings", {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. token,
  }, body)
end
