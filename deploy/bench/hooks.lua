-- wrk script: a generic hook (demo token) with a unique path per request,
-- one series per wrk thread. Used by wrk-hooks.sh.
local counter = 0
local thread_id = 0
function setup(thread)
  thread:set("tid", thread_id)
  thread_id = thread_id + 1
end
function init(args)
  tid = tid or 0
end
request = function()
  counter = counter + 1
  local body = string.format('{"kind":"refresh","refresh":{"paths":["https://example.com/t%d/p%d.html"]}}', tid, counter)
  return wrk.format("POST", "/hooks/generic", {["Authorization"]="Bearer demo-token-change-me", ["Content-Type"]="application/json"}, body)
end
