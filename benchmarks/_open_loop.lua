-- An open loop for wrk: thread j of n sends its k-th request at start + (j + k n) / rate, whatever
-- the answers, and logs each one's scheduled send, how late it was written and its latency from
-- the schedule (seconds, CLOCK_MONOTONIC).  One connection per thread, so answers pair with requests.
-- Arguments after "--": rate threads requests start folder body-file.
local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } hdt_timespec;
int clock_gettime(int clock, hdt_timespec *ts);
]]
local ts = ffi.new("hdt_timespec")
local function now()
  ffi.C.clock_gettime(1, ts)  -- CLOCK_MONOTONIC, as Python's time.perf_counter on Linux
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) * 1e-9
end

local count = 0
function setup(thread)
  thread:set("id", count)
  count = count + 1
end

local rate, n, total, start, k, due, sent, answered, log
function init(args)
  rate, n, total, start = tonumber(args[1]), tonumber(args[2]), tonumber(args[3]), tonumber(args[4])
  local body = io.open(args[6], "rb")
  wrk.method, wrk.body = "POST", body:read("*a")
  body:close()
  wrk.headers["Content-Type"] = "application/json"
  log = io.open(string.format("%s/open-loop-%d.csv", args[5], id), "w")
  log:setvbuf("line")
  k, answered = 0, now()
end

function delay()
  if id + k * n >= total then
    return 3600000  -- the schedule is over: nothing more from this thread
  end
  return math.max(0, math.ceil((start + (id + k * n) / rate - now()) * 1000))
end

function request()
  sent, due = now(), nil
  if k ~= nil and sent >= start - 0.001 then  -- not wrk's first request, sent before the schedule
    due, k = start + (id + k * n) / rate, k + 1
  end
  return wrk.format()
end

function response(status, headers, body)
  local t = now()
  if due == nil then
    return
  end
  -- lateness of the send itself: after the schedule and after the previous answer (one connection);
  -- latency from the schedule, or from the send if wrk's millisecond timer sent it early
  log:write(string.format("%.6f,%.6f,%.6f,%d\n", due - start, sent - math.max(due, answered),
                          t - math.min(due, sent), status))
  answered = t
end
