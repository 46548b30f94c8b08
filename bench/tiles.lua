-- wrk script for bench/tiles.py: request tile paths from a file, check every response.
--
-- Arguments after "--": <paths file> <once|cycle> <wrk thread count>
-- Thread i's share is lines i, i+n, i+2n, ... of the file.
-- "once": each path at most once. A thread walks its share forwards, then, if it is faster than
-- its neighbour, the next thread's share backwards; done() counts as "repeats" the requests where
-- the two walks met or ran past the end (the caller fails the phase on any).
-- "cycle": each thread walks its own share round and round.
-- The Cookie header comes from wrk's -H option. done() prints one line "WRK_RESULT {json}".

local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  local file, mode, count = args[1], args[2], tonumber(args[3])
  once = mode == "once"
  paths, spare = {}, {}
  local i = 0
  for line in io.lines(file) do
    if i % count == id then
      paths[#paths + 1] = line
    elseif i % count == (id + 1) % count then
      spare[#spare + 1] = line
    end
    i = i + 1
  end
  listed = #paths
  index = 0
  sent = 0
  responses = 0
  non200 = 0
  nonjpeg = 0
  regranted = 0
  body_bytes = 0
end

function request()
  sent = sent + 1
  if once and sent > #paths and sent - #paths <= #spare then
    return wrk.format("GET", spare[#spare - (sent - #paths) + 1])
  end
  index = index + 1
  if index > #paths then
    index = 1
  end
  return wrk.format("GET", paths[index])
end

function response(status, headers, body)
  responses = responses + 1
  if status ~= 200 then
    non200 = non200 + 1
  end
  if body == nil or body:sub(1, 3) ~= "\255\216\255" then
    nonjpeg = nonjpeg + 1
  else
    body_bytes = body_bytes + #body
  end
  -- A fresh grant cookie means the server did not accept ours and ran the full check.
  if headers["Set-Cookie"] ~= nil then
    regranted = regranted + 1
  end
end

function done(summary, latency, requests)
  local totals = { sent = 0, listed = 0, responses = 0, non200 = 0, nonjpeg = 0,
                   regranted = 0, body_bytes = 0, repeats = 0 }
  for i, thread in ipairs(threads) do
    for _, name in ipairs({ "sent", "listed", "responses", "non200", "nonjpeg", "regranted",
                            "body_bytes" }) do
      totals[name] = totals[name] + thread:get(name)
    end
    if thread:get("once") then
      -- This thread's share was walked forwards by itself and backwards by the thread before.
      local before = threads[(i - 2) % #threads + 1]
      local forwards = math.min(thread:get("sent"), thread:get("listed"))
      local backwards = math.max(0, before:get("sent") - before:get("listed"))
      if #threads == 1 then
        backwards = 0
        forwards = thread:get("sent")
      end
      totals.repeats = totals.repeats + math.max(0, forwards + backwards - thread:get("listed"))
    end
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_RESULT {"requests": %d, "duration_us": %d, "bytes": %d, '
      .. '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, '
      .. '"latency_us": {"p50": %d, "p90": %d, "p99": %d, "max": %d, "mean": %.1f}, '
      .. '"sent": %d, "listed": %d, "responses": %d, "non200": %d, "nonjpeg": %d, '
      .. '"regranted": %d, "body_bytes": %d, "repeats": %d}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean,
    totals.sent, totals.listed, totals.responses, totals.non200, totals.nonjpeg,
    totals.regranted, totals.body_bytes, totals.repeats))
end
