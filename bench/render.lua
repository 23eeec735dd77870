-- wrk script for bench/render: every request asks for the boot script of a
-- random one of the seeded hosts, the way iPXE does after boot.ipxe:
--   GET /ipxe?mac=<hexhyp>&arch=x86_64&platform=efi
-- The MAC list is read from the file named by $BENCH_MACS (one per line).
-- Requests are formatted once per thread in init(), so request() costs wrk
-- only a table lookup and the load generator stays light.

local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("thread_no", counter)
end

local requests = {}

function init(args)
  local path = os.getenv("BENCH_MACS")
  if not path then
    error("BENCH_MACS is not set")
  end
  local f = assert(io.open(path, "r"))
  for mac in f:lines() do
    if mac ~= "" then
      requests[#requests + 1] = wrk.format("GET", "/ipxe?mac=" .. mac .. "&arch=x86_64&platform=efi")
    end
  end
  f:close()
  if #requests == 0 then
    error("no MACs in " .. path)
  end
  math.randomseed(os.time() * 1000 + (thread_no or 0))
end

function request()
  return requests[math.random(#requests)]
end
