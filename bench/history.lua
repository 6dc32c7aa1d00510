-- history.lua - wrk: GET a history page of 50 messages, round-robin over
-- the (token, chat) pairs of a file given after "--" (bench/run.sh writes
-- it: "token chat_id user_id" per line). Requests are built once in init.
local reqs = {}
local n, i = 0, 0

function init(args)
  for line in io.lines(args[1]) do
    local tok, chat = line:match("^(%S+) (%d+)")
    n = n + 1
    reqs[n] = wrk.format("GET", "/api/v1/chats/" .. chat .. "/messages?limit=50",
                         { ["Authorization"] = "Bearer " .. tok })
  end
  i = math.random(n) - 1
end

function request()
  i = i % n + 1
  return reqs[i]
end
