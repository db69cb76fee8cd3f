#!/usr/bin/env python3
"""Writes wordpiece_cases.json: HF `tokenizers` encodings of varied strings with all-MiniLM-L6-v2's tokenizer.

Run with the peer venv (tokenizers 0.23.x):
    /root/.cache/memorag/venv-peer/bin/python Tests/TokenizersTests/Fixtures/make_wordpiece_fixtures.py

It reads $MEMORAG_CACHE/models/all-MiniLM-L6-v2/tokenizer.json (default ~/.cache/memorag; scripts/fetch-models.sh
installs it) and checks that a tokenizer built from that model's vocab.txt encodes every case the same.
For each case it records: ids with [CLS]/[SEP] and no truncation (without special tokens they are the same less
the first and last), whether truncating to 256 (the model's sentence-transformers max_seq_length) cuts anything and
if so the truncated ids, and the decoded text of the full ids with and without special tokens. `decode_cases` are arbitrary id lists (specials, continuations first, gaps).
"""
import json
import os
import random
import sys

import tokenizers
from tokenizers import Tokenizer, BertWordPieceTokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
CACHE = os.environ.get("MEMORAG_CACHE", os.path.expanduser("~/.cache/memorag"))
MODEL = os.path.join(CACHE, "models", "all-MiniLM-L6-v2")
MAX_LENGTH = 256

ENGLISH = [
    "Hello, world!",
    "The quick brown fox jumps over the lazy dog.",
    "I don't think that's what they're saying; it's more like \"we'll see\".",
    "She said: 'It isn't over until it's over.'",
    "Retrieval-augmented generation (RAG) combines a retriever with a generator.",
    "MemoRAG uses a light-weight memory model to draft clues for the retriever.",
    "Mr. Smith paid $1,234.56 for 3.5 kg of apples on 2024-02-29 at 10:30 a.m.",
    "e.g. i.e. etc. vs. U.S.A. Ph.D.",
    "What?! No way... Really??? Yes!!!",
    "state-of-the-art, well-known, re-enter, co-operate",
    "UPPERCASE lowercase MiXeD CaSe",
    "unbelievably counterintuitive antidisestablishmentarianism",
    "The embeddings are L2-normalized; cosine similarity equals the dot product.",
    "Transformers process tokens in parallel, unlike RNNs.",
    "It was the best of times, it was the worst of times, it was the age of wisdom.",
    "  leading and trailing spaces  ",
    "multiple     spaces\tand\ttabs\nand\nnewlines\r\nand CRLF",
    "a",
    "A.",
    "",
    " ",
    "\n\n\n",
    "word" * 20,
    "tokenization tokenizer tokenizers tokenized tokenizing",
    "Internationalization (i18n) and localization (l10n).",
    "The year 1999 and the number 3.14159265358979 and 6.022e23.",
    "100% of 50% is 50%; 2+2=4; 10/2=5; 3*3=9; 2^10=1024",
    "#hashtag @mention $money %percent &and *star",
    "[CLS] hello [SEP] world [SEP]",
    "x[UNK]y[MASK]z[PAD]",
    "[cls] lowercase markers are not special [mask]",
    "[CLS][SEP][PAD][MASK][UNK]",
    "[ CLS ]",
    "Don't stop believin'. Y'all'd've done it.",
    "O'Neil's café-restaurant isn't open on Sundays.",
]

MULTILINGUAL = [
    "我爱自然语言处理。",
    "北京是中国的首都，上海是最大的城市。",
    "这是一个测试句子，包含标点符号！还有问号？",
    "日本語のテキストです。ひらがな、カタカナ、漢字。",
    "東京タワーは333メートルです。",
    "한국어 문장입니다. 안녕하세요!",
    "Привет, мир! Как дела?",
    "Ελληνικά: Καλημέρα κόσμε. ΣΊΣΥΦΟΣ",
    "مرحبا بالعالم! هذا اختبار.",
    "שלום עולם",
    "नमस्ते दुनिया। यह एक परीक्षण है।",
    "สวัสดีชาวโลก",
    "Tiếng Việt có dấu: Xin chào thế giới.",
    "Türkçe: İstanbul, Iğdır, ışık, İİİ",
    "Deutsch: Größe, Straße, Übermäßig, ÄÖÜäöüß",
    "Français: Crème brûlée, naïve, façade, Noël, œuvre",
    "Español: ¿Dónde está la biblioteca? ¡Olé! Año, niño",
    "Português: São Paulo, ação, coração, pão",
    "Polski: Zażółć gęślą jaźń",
    "Čeština: Příliš žluťoučký kůň úpěl ďábelské ódy",
    "Ångström, Øresund, Æsir, Þór, ð",
    "Mixed 中文 and English 混合 text 123",
    "ｆｕｌｌｗｉｄｔｈ ＡＢＣ １２３ ！？",
    "𝐁𝐨𝐥𝐝 𝑰𝒕𝒂𝒍𝒊𝒄 𝔉𝔯𝔞𝔨𝔱𝔲𝔯",
    "𠀀𠀁𪜀 CJK extension B and C",
    "豈更車 compatibility ideographs",
    "ﬁ ﬂ ﬃ ligatures",
    "Ⅰ Ⅱ Ⅲ Ⅳ roman numerals ① ② ③ ½ ¼ ² ³",
    "٠١٢٣٤٥٦٧٨٩ Arabic-Indic digits",
    "e\u0301 combining acute, a\u0308 combining umlaut, n\u0303",
    "\u1100\u1161\u11a8 conjoining jamo",
    "Z\u0351\u036b\u0343\u036a\u0302\u036b\u033d\u034f\u0334\u0319\u0324\u031e\u0349\u035a\u032f\u031e\u0320\u034dalgo",
]

EMOJI = [
    "I love it 😀😃😄!",
    "Family: 👩‍👩‍👧‍👦 and flags 🇺🇸🇫🇷🇯🇵",
    "Skin tones 👍🏻👍🏿 and hearts ❤️💙",
    "Keycaps 1️⃣ 2️⃣ #️⃣",
    "New emoji 🥺🫠🪿 and old ☺ ☃",
    "🔥🔥🔥 fire",
    "emoji🙂inside🙂words",
]

PUNCTUATION = [
    "!!!???...,,,;;;:::",
    "--==++__~~``^^",
    "«guillemets» „German quotes“ “English” ‘single’",
    "…—–‐‑‒―",
    "¿¡§¶†‡•‰′″‴",
    "(((nested))) [[[brackets]]] {{{braces}}} <<<angles>>>",
    "a.b.c.d.e.f.g",
    "!@#$%^&*()_+-=[]{}|;':\",./<>?`~",
    "。、「」『』【】〈〉《》・ー～",
    "¥€£¢₹₽₩ currency",
    "←↑→↓↔ arrows ∑∏∫√∞≈≠≤≥ math",
    "|/\\|/\\|",
    "''''\"\"\"\"",
]

WHITESPACE_CONTROL = [
    "tab\there",
    "nbsp\u00a0here",
    "ideographic\u3000space",
    "zero\u200bwidth\u200cjoiners\u200d",
    "bom\ufeffinside",
    "nul\x00char",
    "replacement\ufffdchar",
    "delete\x7fchar",
    "next line\u0085char",
    "line\u2028separator\u2029paragraph",
    "soft\u00adhyphen",
    "vertical\x0btab\x0cformfeed",
    "\x01\x02\x03\x04\x05 controls",
    "en\u2002em\u2003thin\u2009hair\u200a spaces",
    "narrow\u202fnbsp and math\u205fspace",
    "private\ue000use\U000f0000chars",
    "variation\ufe0fselector and\u034fcgj",
    "bidi\u202emarks\u202c\u200e\u200f",
    "ogham\u1680space",
]

URLS_CODE = [
    "https://www.example.com/path/to/page?query=1&lang=en#section-2",
    "http://localhost:8080/api/v1/items/42",
    "ftp://files.example.org/pub/README.txt",
    "Contact: john.doe+tag@example.co.uk or admin@[127.0.0.1]",
    "www.github.com/huggingface/tokenizers",
    "def foo(x): return x ** 2 if x > 0 else -x",
    "int main(void) { printf(\"%d\\n\", 42); return 0; }",
    "for (let i = 0; i < arr.length; i++) { sum += arr[i]; }",
    "{\"key\": [1, 2, 3], \"nested\": {\"a\": null, \"b\": true}}",
    "SELECT * FROM users WHERE id = 42 AND name LIKE '%smith%';",
    "regex: ^[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\\.[a-zA-Z]{2,}$",
    "let x: [String: Int] = [\"a\": 1]  // Swift dictionary",
    "snake_case_name camelCaseName PascalCaseName kebab-case-name SCREAMING_CASE",
    "0x1F600 0b1010 1e-9 1_000_000 3.0f",
    "<html><body><p class=\"x\">Hi &amp; bye</p></body></html>",
    "C:\\Users\\name\\Documents\\file.txt",
    "$ ls -la | grep '.swift' && echo done",
]

LONG_WORDS = [
    "a" * 99,
    "a" * 100,
    "a" * 101,
    "b" * 250,
    "supercalifragilisticexpialidocious" * 3,
    "pneumonoultramicroscopicsilicovolcanoconiosis " * 3,
    "é" * 100,
    "é" * 101,
    "E\u0301" * 100,
    "x" * 101 + " short words after",
    "中" * 150,
    "ab" * 60 + "." + "cd" * 40,
    "Donaudampfschifffahrtsgesellschaftskapitänswitwenrentenversicherungsanstalt",
    "qwzxqwzxqwzxkjhgfdsa",
    "ᏣᎳᎩ ᎦᏬᏂᎯᏍᏗ",
]


def long_texts(rng):
    words = ("memory retrieval model answer question context long document clue draft generate token embedding "
             "attention layer beacon compress sentence paragraph chapter evidence reasoning summary").split()
    texts = []
    for n in (120, 200, 255, 300, 600):
        texts.append(" ".join(rng.choice(words) for _ in range(n)) + ".")
    texts.append(("The quick brown fox jumps over the lazy dog. " * 30).strip())
    texts.append("，".join("中文句子" for _ in range(80)))
    texts.append(" ".join("x" * 101 for _ in range(300)))
    texts.append("untokenizable " * 100)  # 4 pieces a word: truncation at 254 splits a word
    texts.append("a " * 254)  # exactly 254 pieces: fits with [CLS]/[SEP]
    texts.append("a " * 255)
    return texts


def random_strings(rng):
    ranges = [(0x20, 0x7E), (0xA0, 0x24F), (0x300, 0x36F), (0x370, 0x3FF), (0x400, 0x4FF), (0x590, 0x6FF),
              (0x900, 0x97F), (0xE00, 0xE7F), (0x1100, 0x11FF), (0x2000, 0x206F), (0x2100, 0x22FF),
              (0x3000, 0x30FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xAC00, 0xD7A3), (0xF900, 0xFAFF),
              (0xFE00, 0xFE6F), (0xFF00, 0xFFEF), (0x1F300, 0x1FAFF), (0x10000, 0x1FFFF), (0x20000, 0x2FA1F),
              (0xE0000, 0xE01EF)]
    out = []
    for _ in range(40):
        chars = []
        for _ in range(rng.randint(5, 40)):
            if rng.random() < 0.25:
                chars.append(" ")
                continue
            lo, hi = rng.choice(ranges)
            chars.append(chr(rng.randint(lo, hi)))
        out.append("".join(chars))
    # Anywhere in Unicode (no surrogates).
    for _ in range(20):
        chars = []
        for _ in range(rng.randint(5, 30)):
            cp = rng.randint(0, 0x10FFFF)
            if 0xD800 <= cp < 0xE000:
                cp = 0x41
            chars.append(chr(cp))
        out.append("".join(chars))
    # Where HF's old Unicode tables differ from newer ones (see HFUnicodeTables in BertNormalizer.swift).
    divergent = [0x61D, 0x9FD, 0xA76, 0x166D, 0x1B4E, 0x2E43, 0x2E52, 0x2E5D, 0x111C9, 0x11944, 0x11FFF, 0x16FE2,
                 0x7FD, 0x897, 0x8CA, 0x9FE, 0xAFA, 0xC3C, 0x1734, 0x1ABF, 0x1DF6, 0xA82C, 0x1171E, 0x1E944,
                 0x1CF00, 0x13440, 0x890, 0x8E2, 0x110CD, 0x13430, 0x11938]
    out.append(" ".join("a" + chr(cp) + "b" for cp in divergent))
    out.append("".join("x" + chr(cp) for cp in divergent))
    return out


def main():
    path = os.path.join(MODEL, "tokenizer.json")
    if not os.path.exists(path):
        sys.exit(f"{path} is missing: run scripts/fetch-models.sh")
    tok = Tokenizer.from_file(path)
    tok.no_truncation()
    tok.no_padding()
    trunc = Tokenizer.from_file(path)
    trunc.no_padding()
    trunc.enable_truncation(MAX_LENGTH)
    from_vocab = BertWordPieceTokenizer(os.path.join(MODEL, "vocab.txt"), lowercase=True)

    rng = random.Random(20240601)
    strings = (ENGLISH + MULTILINGUAL + EMOJI + PUNCTUATION + WHITESPACE_CONTROL + URLS_CODE + LONG_WORDS
               + long_texts(rng) + random_strings(rng))
    cases = []
    vocab_mismatches = 0
    for text in strings:
        full = tok.encode(text)
        bare = tok.encode(text, add_special_tokens=False)
        cut = trunc.encode(text)
        if from_vocab.encode(text).ids != full.ids:
            vocab_mismatches += 1
        assert bare.ids == full.ids[1:-1]
        case = {
            "text": text,
            "ids": full.ids,
            "truncated_256": len(full.ids) > MAX_LENGTH,
            "decoded": tok.decode(full.ids, skip_special_tokens=True),
            "decoded_with_special": tok.decode(full.ids, skip_special_tokens=False),
        }
        if case["truncated_256"]:
            case["ids_256"] = cut.ids
        else:
            assert cut.ids == full.ids
        cases.append(case)
    if vocab_mismatches:
        sys.exit(f"vocab.txt tokenizer differs from tokenizer.json on {vocab_mismatches} strings")

    decode_cases = []
    size = tok.get_vocab_size()
    for n in range(25):
        ids = [rng.randrange(size) for _ in range(rng.randint(1, 30))]
        if n % 3 == 0:
            ids.insert(0, tok.token_to_id("##s"))
        if n % 4 == 0:
            ids += [101, 102, 0, 103, 100]
        if n % 5 == 0:
            ids.append(size + 5)  # out of range: skipped
        decode_cases.append({
            "ids": ids,
            "decoded": tok.decode(ids, skip_special_tokens=True),
            "decoded_with_special": tok.decode(ids, skip_special_tokens=False),
        })
    # Words HF's cleanup rewrites.
    for text in ["hello , world . do not ' s 're n't 'm ! ?", "I ' m here , you ' re there .", "it ' s"]:
        ids = tok.encode(text, add_special_tokens=False).ids
        decode_cases.append({"ids": ids, "decoded": tok.decode(ids), "decoded_with_special": tok.decode(ids, False)})

    out = {
        "model": "all-MiniLM-L6-v2",
        "tokenizers_version": tokenizers.__version__,
        "max_length": MAX_LENGTH,
        "cases": cases,
        "decode_cases": decode_cases,
    }
    with open(os.path.join(HERE, "wordpiece_cases.json"), "w", encoding="utf-8") as f:
        # One case a line.
        f.write("{\n")
        for key in ("model", "tokenizers_version", "max_length"):
            f.write(f"{json.dumps(key)}: {json.dumps(out[key])},\n")
        for key in ("cases", "decode_cases"):
            rows = ",\n".join(json.dumps(row, ensure_ascii=False) for row in out[key])
            f.write(f"{json.dumps(key)}: [\n{rows}\n]" + (",\n" if key == "cases" else "\n"))
        f.write("}\n")
    print(f"wrote {len(cases)} cases and {len(decode_cases)} decode cases (tokenizers {tokenizers.__version__})")


if __name__ == "__main__":
    main()
