#!/usr/bin/env python3
"""Fixtures for BPETrainerTests (run with the peer venv, tokenizers 0.23.x):
    /root/.cache/memorag/venv-peer/bin/python Tests/TokenizersTests/Fixtures/make_bpe_trainer_fixtures.py

bpe_corpus.txt      ~200 KB of self-written text: sentences generated from templates and word lists written for
                    this file (seeded, so the output is always the same), with some code, numbers, contractions,
                    odd whitespace and a few non-English lines. No third-party text.
bpe_trainer_hf.json HF's own BpeTrainer on that corpus (ByteLevel pre-tokenizer, add_prefix_space false, the byte
                    alphabet as initial alphabet, `Tokenizer.train(files)`, i.e. one text a line) for the settings
                    the Swift test uses, and HF's ByteLevel pre-tokenization of assorted strings.
"""
import json
import os
import random

from tokenizers import Tokenizer, models, pre_tokenizers, decoders, trainers

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "bpe_corpus.txt")
VOCAB_SIZE = 1000
MIN_FREQUENCY = 2
SPECIAL_TOKENS = ["<|endoftext|>", "<|pad|>"]

SUBJECTS = ["the model", "a small memory", "our retriever", "the long document", "every reader", "the old library",
            "a careful student", "the night train", "my neighbour's dog", "the river", "this tokenizer",
            "the committee", "a quiet village", "the red lighthouse", "each paragraph", "the summary",
            "the gardener", "an honest answer", "the evening news", "her grandmother", "the compiler",
            "a thousand birds", "the mountain road", "the lazy cat", "his first novel", "the weather"]
VERBS = ["reads", "remembers", "compresses", "forgets", "finds", "writes", "describes", "follows", "ignores",
         "answers", "collects", "explains", "repeats", "counts", "measures", "carries", "builds", "watches",
         "translates", "summarizes", "questions", "discovers", "paints", "hides", "opens", "closes"]
OBJECTS = ["the answer", "a hidden clue", "every token", "the main evidence", "long chapters", "small details",
           "the final page", "a strange letter", "the bright morning", "cold water", "three apples",
           "the whole story", "an unexpected question", "the shortest path", "old photographs",
           "the wooden bridge", "a silver key", "the missing piece", "twelve red boxes", "the quiet harbour",
           "a few numbers", "the broken clock", "fresh bread", "the last train", "green fields"]
ADVERBIALS = ["before dawn", "after a long day", "without a word", "with great care", "in the afternoon",
              "at the end of the chapter", "under the old bridge", "during the storm", "every single morning",
              "once again", "more quickly than expected", "in a hurry", "for the first time", "by the window",
              "near the station", "across the valley", "in silence", "as usual", "almost every week",
              "since last winter"]
CONNECTIVES = ["and", "but", "because", "while", "although", "so", "until", "when", "after", "before"]
OPENERS = ["However,", "Meanwhile,", "In the end,", "Of course,", "Still,", "Later that year,", "Surprisingly,",
           "At first,", "Naturally,", "Then"]
QUESTIONS = ["Why does {s} {v} {o}?", "Who {v} {o} {a}?", "Did {s} really {vb} {o}?", "Where is {o} now?",
             "How often does {s} {vb} {o}?"]
CONTRACTIONS = ["It's {o}.", "I don't think {s} {v} {o}.", "They're sure {s} won't {vb} {o}.",
                "We'll see whether {s} {v} {o}.", "You've seen {o}, haven't you?", "She'd rather {vb} {o}.",
                "I'm not sure it's {o}.", "{S}'s answer isn't {o}."]
OTHER_LINES = [
    "Le petit prince regarde les étoiles et pense à sa rose.",
    "Der schnelle braune Fuchs springt über den faulen Hund.",
    "Быстрая коричневая лиса прыгает через ленивую собаку.",
    "敏捷的棕色狐狸跳过了懒狗。",
    "素早い茶色の狐がのろまな犬を飛び越える。",
    "Η γρήγορη καφέ αλεπού πηδάει πάνω από τον τεμπέλη σκύλο.",
    "¿Dónde está la estación? Está cerca del río, señor.",
    "Ça coûte 12,50 € — c'est très cher !",
    "The café's crème brûlée is naïve but délicieux.",
    "Emoji time: 😀 🚀 ✨ 👍🏽 🇯🇵",
]
CODE_LINES = [
    "def count_pairs(words):\n    counts = {}\n    for w in words:\n        for a, b in zip(w, w[1:]):\n"
    "            counts[(a, b)] = counts.get((a, b), 0) + 1\n    return counts\n",
    "for (int i = 0; i < n; i++) {\n\tsum += values[i] * weights[i];\n}\n",
    "let merged = left + right  // \"Ġt\" + \"he\" -> \"Ġthe\"\n",
    "SELECT id, name FROM documents WHERE length > 1024 ORDER BY id;\n",
    "{\"vocab_size\": 8192, \"min_frequency\": 2, \"special_tokens\": [\"<|endoftext|>\"]}\n",
    "x = [1, 2, 3]; y = {'a': 1, 'b': 2}; z = (x, y)\n",
]


def sentence(rng):
    s, v, o, a = rng.choice(SUBJECTS), rng.choice(VERBS), rng.choice(OBJECTS), rng.choice(ADVERBIALS)
    roll = rng.random()
    if roll < 0.12:
        return rng.choice(QUESTIONS).format(s=s, v=v, vb=v[:-1] if v.endswith("s") else v, o=o, a=a)
    if roll < 0.24:
        return rng.choice(CONTRACTIONS).format(s=s, S=s[0].upper() + s[1:], v=v, vb=v[:-1], o=o)
    text = f"{s} {v} {o} {a}"
    if rng.random() < 0.4:
        s2, v2, o2 = rng.choice(SUBJECTS), rng.choice(VERBS), rng.choice(OBJECTS)
        text += f" {rng.choice(CONNECTIVES)} {s2} {v2} {o2}"
    if rng.random() < 0.2:
        text = f"{rng.choice(OPENERS)} {text}"
    text = text[0].upper() + text[1:]
    return text + rng.choice([".", ".", ".", "!", ";", " ..."])


def number_line(rng):
    year = rng.randint(1800, 2030)
    return (f"In {year}, {rng.randint(2, 999)} readers paid ${rng.randint(1, 99)}.{rng.randint(0, 99):02d} "
            f"for {rng.randint(1, 12)} books ({rng.randint(1, 100)}% off) on {year}-{rng.randint(1, 12):02d}-"
            f"{rng.randint(1, 28):02d} at {rng.randint(0, 23)}:{rng.randint(0, 59):02d}.")


def make_corpus():
    rng = random.Random(7)
    lines = []
    size = 0
    while size < 200_000:
        roll = rng.random()
        if roll < 0.05:
            line = "<|endoftext|>"
        elif roll < 0.10:
            line = number_line(rng)
        elif roll < 0.13:
            line = rng.choice(OTHER_LINES)
        elif roll < 0.15:
            line = rng.choice(CODE_LINES).rstrip("\n")
        elif roll < 0.18:
            line = rng.choice(["", "   ", "\t", "  " + sentence(rng), sentence(rng) + "  ",
                               sentence(rng) + "\t" + sentence(rng), "- " + sentence(rng)])
        else:
            line = " ".join(sentence(rng) for _ in range(rng.randint(1, 4)))
        lines.append(line)
        size += len(line.encode()) + 1
    with open(CORPUS, "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(lines) + "\n")


PRETOKENIZE_STRINGS = [
    "", " ", "  ", "\n", "\n\n", " \n", "a  b", "a   b", "a \n b", "a\n\nb", "a\t b", "a \tb", "  leading", "trailing  ",
    "Hello world", "Hello, world!", "It's", "it's we're they've I'm you'll he'd", "IT'S", "'s'", "'''", "x's",
    "?'s", "don't", "rock 'n' roll", "’s curly", "abc123def", "3.14", "1,000,000", "  42", "x2", "²³", "٣٤", "Ⅻ",
    "foo_bar", "foo-bar", "a...b", "!!!", " !!!", "  !!", "\t!", "\u00a0a", "a\u00a0\u00a0b", "\u3000x", "a\u2028b",
    "naïve café", "e\u0301", "中文字符", "日本語とカタカナ", "한국어", "Привет мир", "😀😀 😀", "👩‍👩‍👧", "🇯🇵",
    "https://example.com/a?b=c", "def f(x):\n    return x\n", "\r\n", "a\r\nb", "\x00\x01", "<|endoftext|>",
    "hello<|endoftext|>world", "\u200b", "\ufeffbom",
]


def main():
    make_corpus()
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB_SIZE, min_frequency=MIN_FREQUENCY, special_tokens=SPECIAL_TOKENS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train([CORPUS], trainer)
    model = json.loads(tok.to_str())["model"]
    merges = [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]
    vocab = sorted(model["vocab"].items(), key=lambda kv: kv[1])
    pre = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    pretokenize = [{"text": s, "pieces": [p for p, _ in pre.pre_tokenize_str(s)]} for s in PRETOKENIZE_STRINGS]
    with open(os.path.join(HERE, "bpe_trainer_hf.json"), "w", encoding="utf-8") as f:
        f.write("{\n")
        f.write(f'"vocab_size": {VOCAB_SIZE},\n"min_frequency": {MIN_FREQUENCY},\n')
        f.write(f'"special_tokens": {json.dumps(SPECIAL_TOKENS)},\n')
        f.write('"vocab": [\n' + ",\n".join(json.dumps(t, ensure_ascii=False) for t, _ in vocab) + "\n],\n")
        f.write('"merges": [\n' + ",\n".join(json.dumps(m, ensure_ascii=False) for m in merges) + "\n],\n")
        f.write('"pretokenize": [\n' + ",\n".join(json.dumps(p, ensure_ascii=False) for p in pretokenize) + "\n]\n")
        f.write("}\n")
    print(f"corpus {os.path.getsize(CORPUS)} bytes; HF vocab {len(vocab)}, merges {len(merges)}")


if __name__ == "__main__":
    main()
