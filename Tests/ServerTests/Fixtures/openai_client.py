"""The official `openai` client against `memorag serve` (ServerTests.ChatCompletionsTests).

Usage: python openai_client.py BASE_URL MEMORY_ID  (venv: scripts/openai-venv.sh)
Prints one JSON line: the answer, the streamed text and piece count, and the status of a request for a missing memory.
"""
import json
import sys

import openai

base_url, memory = sys.argv[1], sys.argv[2]
client = openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0)
question = [{"role": "user", "content": "Who rescued the fishermen?"}]

reply = client.chat.completions.create(model="memorag", messages=question, max_tokens=8, extra_body={"memory": memory})
answer = reply.choices[0].message.content

pieces = []
for chunk in client.chat.completions.create(model="memorag", messages=question, max_tokens=8, stream=True,
                                            extra_body={"memory": memory}):
    if chunk.choices and chunk.choices[0].delta.content:
        pieces.append(chunk.choices[0].delta.content)

try:
    client.chat.completions.create(model="memorag", messages=question, extra_body={"memory": "mem_0000000000000000"})
    bad_status = 200
except openai.NotFoundError as error:
    bad_status = error.status_code

print(json.dumps({"answer": answer, "stream_text": "".join(pieces).strip(), "stream_pieces": len(pieces),
                  "bad_status": bad_status}))
