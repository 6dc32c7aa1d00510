-- send.lua - wrk: POST a message, round-robin over the (token, chat) pairs
-- of a file given after "--" ("token chat_id user_id" per line). The
-- second argument is a tag unique to this wrk run; with a third argument
-- "nocmid" the body has no client_msg_id, else each request carries a
-- fresh one (tag, thread, counter), so nothing is ever a replay.
local pairs_ = {}
local n, i, count = 0, 0, 0
local tag, cmid = "x", true
local tid = 0
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
end

function init(args)
  for line in io.lines(args[1]) do
    local tok, chat = line:match("^(%S+) (%d+)")
    n = n + 1
    pairs_[n] = { "/api/v1/chats/" .. chat .. "/messages",
                  { ["Authorization"] = "Bearer " .. tok,
                    ["Content-Type"] = "application/json" } }
  end
  tag = args[2] or tag
  cmid = args[3] ~= "nocmid"
  tid = wrk.thread:get("tid") or 0
  i = (tid * 7) % n
end

function request()
  i = i % n + 1
  count = count + 1
  local p = pairs_[i]
  local body
  if cmid then
    body = '{"content":"bench message from wrk","client_msg_id":"' .. tag .. "-" .. tid ..
           "-" .. count .. '"}'
  else
    body = '{"content":"bench message from wrk"}'
  end
  return wrk.format("POST", p[1], p[2], body)
end
