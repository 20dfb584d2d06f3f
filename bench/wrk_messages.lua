-- wrk script: POST a message to, or GET the newest 50 messages of, a random conversation.
-- BENCH_IDS names a file of conversation ids, BENCH_KEY the API key, BENCH_MODE post|get.
local ids = {}
for line in io.lines(os.getenv("BENCH_IDS")) do ids[#ids + 1] = line end
local mode = os.getenv("BENCH_MODE")

wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_KEY")
if mode == "post" then
    wrk.method = "POST"
    wrk.headers["Content-Type"] = "application/json"
    wrk.body = '{"role": "user", "content": "hello from the benchmark", "token_count": 5}'
end

request = function()
    local path = "/v1/conversations/" .. ids[math.random(#ids)] .. "/messages"
    if mode == "get" then path = path .. "?order=desc&limit=50" end
    return wrk.format(nil, path)
end

