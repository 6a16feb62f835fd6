-- The flight results page over many routes and dates, as a signed-in browser asks for it (its
-- session cookies come from COOKIE). ROUTES and DATES come from the environment (bench/web.sh).
local routes = {}
for pair in string.gmatch(os.getenv("ROUTES") or "Paris:London", "[^,]+") do
  local from, to = string.match(pair, "([^:]+):([^:]+)")
  table.insert(routes, {from, to})
end
local dates = {}
for day in string.gmatch(os.getenv("DATES") or "", "[^,]+") do
  table.insert(dates, day)
end
local cookie = os.getenv("COOKIE") or ""
local counter = 0

request = function()
  counter = counter + 1
  local route = routes[(counter % #routes) + 1]
  local path = "/flights?from=" .. route[1]:gsub(" ", "%%20") .. "&to=" .. route[2]:gsub(" ", "%%20")
  if #dates > 0 then
    path = path .. "&date=" .. dates[(counter % #dates) + 1]
  end
  local headers = {}
  if cookie ~= "" then
    headers["Cookie"] = cookie
  end
  return wrk.format("GET", path, headers)
end
