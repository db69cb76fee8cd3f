"""Reference embeddings of all-MiniLM-L6-v2 from sentence-transformers.

Run with a python that has sentence-transformers (e.g. the venv of scripts/peer-venv.sh plus
``pip install sentence-transformers``), after ``scripts/fetch-models.sh``:

    python Tests/ModelsTests/Fixtures/minilm/make_minilm_fixtures.py

Writes ``expected.json``: 30 sentences (English, Chinese, punctuation, emoji, and long inputs that
the model truncates at 256 word pieces), the token ids sentence-transformers feeds the model
(with [CLS]/[SEP], truncated), and the normalised 384-d embeddings it returns. The weights are not
copied: the Swift test reads them from the cache dir, as the pipeline does.
"""
import json
import os
import sys

import sentence_transformers
import torch
from sentence_transformers import SentenceTransformer

HERE = os.path.dirname(os.path.abspath(__file__))
MODEL = os.path.join(os.environ.get("MEMORAG_CACHE", os.path.expanduser("~/.cache/memorag")),
                     "models", "all-MiniLM-L6-v2")

LONG = " ".join(["Alice was beginning to get very tired of sitting by her sister on the bank."] * 40)
SENTENCES = [
    "The capital of France is Paris.",
    "What did Alice find at the bottom of the rabbit hole?",
    "A quick brown fox jumps over the lazy dog.",
    "Machine learning models compress long contexts into memory.",
    "MemoRAG uses a memory model to generate retrieval clues.",
    "I have read the article. Please provide your question.",
    "How old is the Queen of Hearts?",
    "Down, down, down. Would the fall never come to an end!",
    "It was the White Rabbit, trotting slowly back again.",
    "Curiouser and curiouser!",
    "北京是中国的首都。",
    "我有一个问题：这本书的主题是什么？",
    "東京は日本の首都です。",
    "Ça va? Où est la bibliothèque, s'il vous plaît?",
    "Naïve café résumé — coöperate, façade.",
    "Hello!!! ??? ... --- ;;; :::",
    "Emoji 🎉🚀 and symbols © ® ™ € £ ¥.",
    "e-mail: someone@example.com, url: https://example.org/a?b=c&d=e",
    "def f(x):\n    return x ** 2  # square",
    "Numbers 3.14159, 2,718, 1e-9 and 42.",
    "   leading and trailing spaces   ",
    "UPPER CASE TEXT SHOULD BE LOWERCASED",
    "tabs\tand\nnewlines\r\nmixed",
    "Supercalifragilisticexpialidocious antidisestablishmentarianism",
    "a",
    "The the the the the the the the the the.",
    "Retrieval-augmented generation over very long inputs.",
    LONG,
    LONG + " 而且还有中文。",
    "Why is a raven like a writing-desk? " * 30,
]


def main() -> int:
    torch.manual_seed(0)
    model = SentenceTransformer(MODEL, device="cpu")
    tokenizer = model.tokenizer
    features = tokenizer(SENTENCES, truncation=True, max_length=model.max_seq_length)
    embeddings = model.encode(SENTENCES, batch_size=8, convert_to_numpy=True, normalize_embeddings=False)
    out = {
        "sentences": SENTENCES,
        "input_ids": features["input_ids"],
        "embeddings": [[round(float(x), 7) for x in row] for row in embeddings],
        "max_seq_length": model.max_seq_length,
        "sentence_transformers": sentence_transformers.__version__,
        "torch": torch.__version__,
    }
    with open(os.path.join(HERE, "expected.json"), "w") as f:
        json.dump(out, f, ensure_ascii=False)
    print("truncated:", sum(len(i) == model.max_seq_length for i in features["input_ids"]), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
