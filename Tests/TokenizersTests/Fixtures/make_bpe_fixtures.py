#!/usr/bin/env python3
"""Writes the BPE parity fixtures for `Tests/TokenizersTests` (run with the peer venv):

    /root/.cache/memorag/venv-peer/bin/python Tests/TokenizersTests/Fixtures/make_bpe_fixtures.py

Needs `tokenizers`, `transformers`, `gguf`, `sentencepiece` and `protobuf`. Deterministic: the strings come from a
fixed list plus a seeded generator, every trainer runs single-threaded on a fixed corpus (the strings themselves and
`/usr/share/common-licenses/*` when present, a fixed built-in paragraph otherwise), and JSON is written with sorted
keys. The Swift tests check exact id parity against everything written here.

What it writes (next to this script, under `Fixtures/`):

* `strings.json` -- >= 200 test strings: code, whitespace runs, numbers, CJK, emoji (ZWJ, skin tones, flags),
  combining marks, RTL, special tokens inside text, contractions in all cases, the empty string, long runs.
* `bpe/<name>/tokenizer.json` -- small tokenizers in the layouts the Swift code must read:
    - `bytelevel`: trained byte-level BPE (HF `tokenizers` BpeTrainer, vocab 2000), GPT-2 layout: ByteLevel
      pre-tokenizer (GPT-2 regex), ByteLevel decoder, ByteLevel post-processor; special tokens `<|endoftext|>`,
      `<|im_start|>`, `<|im_end|>` plus added tokens with lstrip / rstrip / single_word flags.
    - `llama3`: the same vocabulary and merges, Llama-3 layout: Split(Llama-3 regex) + ByteLevel(use_regex=false),
      `ignore_merges: true`, TemplateProcessing adding BOS `<|endoftext|>`.
    - `qwen2`: the same, Qwen2 layout: NFC normalizer, Split(Qwen2 regex) + ByteLevel(use_regex=false).
    - `digits`: the same, SmolLM2-hub layout: Sequence[Digits(individual_digits), ByteLevel(add_prefix_space=true)].
    - `sp-llama2`: SentencePiece BPE. A `sentencepiece` BPE model (vocab 1000, byte_fallback) is trained here,
      its vocabulary and merges are extracted the way transformers' `SentencePieceExtractor` does (merges from
      `generate_merges`), and written in the Llama-2 hub layout: normalizer Sequence[Prepend("▁"), Replace(" ",
      "▁")], no pre-tokenizer, BPE(byte_fallback, fuse_unk, unk `<unk>`), TemplateProcessing `<s> $A`, decoder
      Sequence[Replace("▁", " "), ByteFallback, Fuse, Strip(" ", 1, 0)].
    - `sp-mistral`: the same vocabulary in the newer layout (transformers 5 `LlamaTokenizer`, Mistral):
      Metaspace(prepend_scheme "first", split false) pre-tokenizer, no normalizer.
    - `sp-metaspace`: the same vocabulary in the older Metaspace layout: Metaspace(prepend_scheme "always",
      split true) pre-tokenizer and decoder Sequence[Metaspace, ByteFallback, Fuse].
* `checkpoints/memorag-smollm2-135m/{tokenizer.json,tokenizer_config.json,chat_template.jinja}` (repository root) --
  the SmolLM2-135M-Instruct tokenizer exactly as `transformers.AutoTokenizer.from_pretrained(dir, gguf_file=...)`
  builds it from the GGUF (tokenizer.json written compact; `chat_template` also copied into tokenizer_config.json).
* `smollm2_gguf_vocab.json` -- the GGUF's tokenizer metadata (tokens, merges, token types, special ids, `pre`,
  `add_bos_token`, chat template) read with gguf-py's `GGUFReader`, for the components initializer.
* `sp_gguf_vocab.json` -- the `sp-*` SentencePiece model as a llama.cpp GGUF carries it (tokenizer model "llama":
  tokens, scores, token types, no merges); its expectations come from transformers loading such a GGUF (written
  with gguf-py's `GGUFWriter`), which derives the merges from the scores and adds BOS.
* `expected_bpe.json` -- per tokenizer (the seven above, `smollm2` and `sp-gguf`): ids with and without special
  tokens, `decode(ids)` and `decode(ids, skip_special_tokens=True)` of the with-special ids, and decodes of random
  id sequences.
* `pretokenize.json` -- the splits of the GPT-2, Llama-3 and Qwen2 regexes (HF `Split(..., "isolated")`) per string.
* `chat_templates.json` -- renderings by transformers' `apply_chat_template` (Jinja) of the SmolLM2 GGUF template, a
  Qwen2-style ChatML template, plain ChatML and the Mistral-7B-Instruct-v0.1 template.

`make_bpe_fixtures.py --fuzz OUT.json [N [SEED [WIDE]]]` instead writes N (default 20000) random strings with HF's splits and ids
(not a fixture; for `BPE_FUZZ_FILE=OUT.json swift test --filter BPETests/testFuzzParity`).
"""

import json
import os
import random
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
GGUF_DIR = Path("/root/.cache/memorag/models/smollm2-135m-instruct")
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
CHECKPOINT = REPO / "checkpoints" / "memorag-smollm2-135m"

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("RAYON_NUM_THREADS", "1")

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors  # noqa: E402
from tokenizers import trainers  # noqa: E402

GPT2_REGEX = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
LLAMA3_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
                r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
               r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")


# ----------------------------------------------------------------------------------------------------------------
# Strings
# ----------------------------------------------------------------------------------------------------------------

PARAGRAPH = (
    "It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in want "
    "of a wife. However little known the feelings or views of such a man may be on his first entering a "
    "neighbourhood, this truth is so well fixed in the minds of the surrounding families, that he is considered "
    "the rightful property of some one or other of their daughters.\n\n\"My dear Mr. Bennet,\" said his lady to "
    "him one day, \"have you heard that Netherfield Park is let at last?\"\n"
)

CURATED = [
    # empty and whitespace
    "", " ", "  ", "   ", "\t", "\n", "\r\n", "\n\n\n", " \n \n ", "\t\tindented", "    four spaces",
    "trailing spaces   ", "trailing newline\n", "multiple   spaces   here", "tabs\tand\ttabs", "line1\nline2",
    "line1\n\nline3", "para\n\n\n  indented", "mixed \t \n whitespace", "a\r\nb\rc\nd", "word \n", "x  \n  y",
    "\u00a0nbsp\u00a0here", "\u3000ideographic space", "a\u2028b\u2029c", "\x0b vt \x0c ff", "end with tab\t",
    " leading space", "  two leading", "\n leading newline", "a \t\n b", "spaces before punct   !",
    # contractions
    "don't", "DON'T", "Don'T", "we'll", "We'LL", "I'm", "I'M", "she's", "SHE'S", "they've", "THEY'VE", "you'd",
    "YOU'D", "it's", "they're", "THEY'RE", "'s", "'tis the season", "rock 'n' roll", "O'Neil's", "can't won't",
    "'S'", "'re're", "it'\u017f", "IT'\u017fS", "it's's", "' s", "''", "'", "x'", "don\u2019t (curly)",
    # numbers
    "123", "1234567890", "3.14159", "1,000,000", "12345678901234567890123", "version 2.0.1", "0x1F", "1e-10",
    "-42", "\u00a3100 and \u20ac200", "\u0663\u0664\u0665", "\u00bd \u00be", "\u216b", "\u2460\u2461", "2024-01-01T12:00:00Z",
    "a1b2c3", "  42", "x  123", "1 2 3", "\uff12\uff10\uff12\uff14\u5e74", "99.9%", "+1 (555) 123-4567",
    # code
    "def f(x):\n    return x**2\n", "if (a && b) { return; }", "    for i in range(10):\n        print(i)\n",
    "<div class=\"x\">hi</div>", "#include <stdio.h>\nint main(void) { return 0; }",
    "SELECT * FROM t WHERE id = 1;", "fn main() -> Result<(), Box<dyn Error>> {}", "x = [1, 2, 3]  # comment",
    "path/to/file.txt", "https://example.com/a?b=c&d=e#frag", "user@example.com", "snake_case camelCase PascalCase",
    "!!!???...", "--==**", "a-b_c.d", "$$$", "((()))", "\"quoted\"", "'single'", "`backticks`",
    "{\"key\": [1, 2.5, null, true], \"s\": \"v\"}", "\tif x:\n\t\tpass\n", "#!/bin/sh\necho \"$HOME\" | wc -l\n",
    "a+=1;b-=2;c*=3", "\\n\\t\\\\", "/* comment */ // line", "<<<>>>", "...", "\u2014 em dash \u2013 en dash",
    # CJK
    "\u4f60\u597d\uff0c\u4e16\u754c\uff01", "\u6211\u7231\u5317\u4eac\u5929\u5b89\u95e8",
    "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8\u3067\u3059\u3002", "\u30ab\u30bf\u30ab\u30ca\u3068\u3072\u3089\u304c\u306a",
    "\ud55c\uad6d\uc5b4 \ud14d\uc2a4\ud2b8", "\u4e2d\u6587 English \u6df7\u5408", "\u300c\u5f15\u7528\u300d",
    "\u6f22\u5b57\u304b\u306a\u6df7\u3058\u308a\u6587",
    # emoji
    "\U0001f600", "Hello \U0001f44b world", "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466",
    "\U0001f44d\U0001f3fd", "\U0001f3f3\ufe0f\u200d\U0001f308", "\u2764\ufe0f", "\U0001f1fa\U0001f1f8\U0001f1ef\U0001f1f5",
    "emoji\U0001f389party", "\U0001f916\U0001f916\U0001f916", "1\ufe0f\u20e3", "\U0001f469\U0001f3fe\u200d\U0001f4bb codes",
    # accents and combining marks
    "caf\u00e9", "cafe\u0301", "na\u00efve r\u00e9sum\u00e9", "\u00c5ngstr\u00f6m", "Z\u00fcrich", "S\u00e3o Paulo",
    "e\u0301\u0302\u0303", "\ufb01 ligature", "\uff26\uff55\uff4c\uff4c\uff57\uff49\uff44\uff54\uff48",
    "\u0130stanbul", "stra\u00dfe", "\u0395\u03bb\u03bb\u03b7\u03bd\u03b9\u03ba\u03ac", "\u0420\u0443\u0441\u0441\u043a\u0438\u0439 \u0442\u0435\u043a\u0441\u0442",
    "\u01c5 titlecase", "\u1e9e", "\u0915\u093e", "Ha\u0308agen-Dazs",
    # RTL and other scripts
    "\u05e9\u05dc\u05d5\u05dd \u05e2\u05d5\u05dc\u05dd", "\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645",
    "mixed English \u05e2\u05d1\u05e8\u05d9\u05ea text", "\u0627\u0644\u0639\u0631\u0628\u064a\u0629 123",
    "\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35\u0e04\u0e23\u0e31\u0e1a", "\u0928\u092e\u0938\u094d\u0924\u0947 \u0926\u0941\u0928\u093f\u092f\u093e",
    "\u200fRLM\u200e LRM", "a\u200bb", "\u200d", "\ufeffhello", "\x00\x01 controls", "\x7f del",
    "\u2211\u222b\u221a\u221e\u2260\u2264", "\u250c\u2500\u2510", "\u2192\u2190\u2191\u2193", "\u00a9\u00ae\u2122",
    # special tokens in text
    "<|im_start|>user\nHello<|im_end|>\n", "Hello<|endoftext|>World", "<|endoftext|>", " <|endoftext|> ",
    "<|im_start|><|im_end|>", "text<|im_start|>", "<|im_start", "<|im_end|>x<|im_end|>", "<|endoftext|><|endoftext|>",
    "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHi!<|im_end|>\n<|im_start|>assistant\n",
    "<s>", "</s>", "<unk>", "<s> hello </s>", "Hello <s>world</s>", "<0x41>", "<repo_name>x<file_sep>",
    # added-token flags of the trained tokenizer
    "a <mask> b", "x<mask>", "a   <mask>   b", "[SW] word", "a[SW]b", "x [SW]", "<rs>   after", "say hello world!",
    "hello worldly", "<mask><mask>",
    # long runs
    "a" * 300, " " * 50, "\n" * 20, "9" * 100, "ab" * 150 + " end", PARAGRAPH, PARAGRAPH.upper(),
    "The quick brown fox jumps over the lazy dog. " * 5,
]

RANDOM_POOL = (
    list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") * 3
    + list("0123456789") * 2
    + [" "] * 12 + ["\n", "\t", "\r\n", "  "]
    + list(".,;:!?'\"()[]{}<>-_=+*/\\|@#$%^&~`")
    + ["'s", "'ll", "'T", "\u00e9", "\u00fc", "\u4f60", "\u597d", "\u3042", "\u30a2", "\ud55c", "\u05d0", "\u0627",
       "\U0001f600", "\U0001f44d\U0001f3fd", "\u200d", "\u0301", "\u00a0", "\u2014", "\u00bd", "\u0663",
       "<|im_end|>", "<|endoftext|>", "<s>", "\u2581"]
)


def make_strings():
    rng = random.Random(20240601)
    strings = list(CURATED)
    for _ in range(70):
        n = rng.randint(1, 40)
        strings.append("".join(rng.choice(RANDOM_POOL) for _ in range(n)))
    assert len(strings) >= 200, len(strings)
    return strings


# ----------------------------------------------------------------------------------------------------------------
# Tokenizers
# ----------------------------------------------------------------------------------------------------------------

def corpus_lines(strings):
    lines = []
    lic = Path("/usr/share/common-licenses")
    if lic.is_dir():
        for p in sorted(lic.iterdir()):
            if p.is_file():
                lines += p.read_text(encoding="utf-8", errors="replace").splitlines()
    if not lines:
        lines = (PARAGRAPH * 50).splitlines()
    lines += [s for s in strings if s]
    return lines


def train_bytelevel(strings):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=True)
    trainer = trainers.BpeTrainer(vocab_size=2000, min_frequency=2, show_progress=False,
                                  special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(corpus_lines(strings), trainer=trainer)
    tok.add_special_tokens([AddedToken("<mask>", lstrip=True, special=True, normalized=False)])
    tok.add_tokens([AddedToken("[SW]", single_word=True, normalized=False),
                    AddedToken("<rs>", rstrip=True, normalized=False),
                    AddedToken("hello world", normalized=True)])
    return tok


def variant(base_json, name):
    """The trained vocabulary and merges in another model's layout."""
    j = json.loads(base_json)
    if name == "llama3":
        j["model"]["ignore_merges"] = True
        tok = Tokenizer.from_str(json.dumps(j))
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(LLAMA3_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False)])
        tok.post_processor = processors.Sequence([
            processors.ByteLevel(trim_offsets=False),
            processors.TemplateProcessing(single="<|endoftext|> $A", pair="<|endoftext|> $A <|endoftext|> $B:1",
                                          special_tokens=[("<|endoftext|>", tok.token_to_id("<|endoftext|>"))])])
    elif name == "qwen2":
        tok = Tokenizer.from_str(json.dumps(j))
        tok.normalizer = normalizers.NFC()
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(QWEN2_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)])
    elif name == "digits":
        tok = Tokenizer.from_str(json.dumps(j))
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=True, trim_offsets=True, use_regex=True)])
    else:
        raise ValueError(name)
    return tok


def train_sentencepiece(strings, workdir):
    import sentencepiece as spm
    from transformers.tokenization_utils_base import generate_merges

    text = Path(workdir) / "sp_corpus.txt"
    text.write_text("\n".join(corpus_lines(strings)), encoding="utf-8")
    prefix = str(Path(workdir) / "sp")
    spm.SentencePieceTrainer.train(
        input=str(text), model_prefix=prefix, model_type="bpe", vocab_size=1000, byte_fallback=True,
        character_coverage=0.9995, num_threads=1, unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
        input_sentence_size=0, shuffle_input_sentence=False, minloglevel=2, split_digits=True,
        allow_whitespace_only_pieces=True, remove_extra_whitespaces=False, normalization_rule_name="identity")
    from transformers.convert_slow_tokenizer import import_protobuf
    pb = import_protobuf()
    proto = pb.ModelProto()
    proto.ParseFromString(Path(prefix + ".model").read_bytes())
    vocab = {p.piece: i for i, p in enumerate(proto.pieces)}
    merges = generate_merges(vocab)  # what SentencePieceExtractor.extract does for BPE
    pieces = [(p.piece, p.score, p.type) for p in proto.pieces]
    return vocab, merges, pieces


def sp_gguf(pieces, strings):
    """The SentencePiece model as a llama.cpp GGUF would carry it (`tokenizer.ggml.model` "llama": tokens, scores,
    token types, no merges), loaded by transformers (`AutoTokenizer.from_pretrained(dir, gguf_file=...)`, which
    derives the merges from the scores). Returns the metadata and transformers' expectations."""
    import gguf
    from transformers import AutoTokenizer

    with tempfile.TemporaryDirectory() as tmp:
        w = gguf.GGUFWriter(os.path.join(tmp, "sp.gguf"), "llama")
        w.add_block_count(1)
        w.add_context_length(64)
        w.add_embedding_length(8)
        w.add_feed_forward_length(16)
        w.add_head_count(1)
        w.add_tokenizer_model("llama")
        w.add_tokenizer_pre("default")
        w.add_token_list([p[0] for p in pieces])
        w.add_token_scores([p[1] for p in pieces])
        w.add_token_types([p[2] for p in pieces])
        w.add_bos_token_id(1)
        w.add_eos_token_id(2)
        w.add_unk_token_id(0)
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        hf = AutoTokenizer.from_pretrained(tmp, gguf_file="sp.gguf")
        backend = Tokenizer.from_str(hf.backend_tokenizer.to_str())
    exp = expected(backend, strings)
    for s, ids in zip(strings, exp["ids"]):
        assert hf(s)["input_ids"] == ids, s
    meta = {"model": "llama", "pre": "default", "tokens": [p[0] for p in pieces],
            "scores": [p[1] for p in pieces], "token_type": [p[2] for p in pieces],
            "bos_token_id": 1, "eos_token_id": 2, "unknown_token_id": 0}
    return meta, exp


def sp_tokenizer(vocab, merges, layout):
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="<unk>", fuse_unk=True, byte_fallback=True,
                               dropout=None))
    tok.add_special_tokens([AddedToken(t, normalized=False, special=True) for t in ("<unk>", "<s>", "</s>")])
    if layout == "llama2":
        tok.normalizer = normalizers.Sequence([normalizers.Prepend("\u2581"), normalizers.Replace(" ", "\u2581")])
        tok.pre_tokenizer = None
    elif layout == "metaspace":
        tok.normalizer = None
        tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always", split=True)
    else:
        tok.normalizer = None
        tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="first", split=False)
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B:1",
                                                       special_tokens=[("<s>", vocab["<s>"])])
    tok.decoder = decoders.Sequence([decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse(),
                                     decoders.Strip(" ", 1, 0)])
    if layout == "metaspace":
        tok.decoder = decoders.Sequence([decoders.Metaspace(replacement="\u2581", prepend_scheme="always", split=True),
                                         decoders.ByteFallback(), decoders.Fuse()])
    return tok


def expected(tok, strings):
    """Ids with / without special tokens and both decodes per string; plus decodes of random id sequences (which
    often are invalid UTF-8: partial byte-level characters, stray `<0xNN>` bytes)."""
    out = {"ids": [], "ids_no_special": [], "decode": [], "decode_skip_special": [],
           "random_ids": [], "random_decode": [], "random_decode_skip_special": []}
    for s in strings:
        ids = tok.encode(s, add_special_tokens=True).ids
        out["ids"].append(ids)
        out["ids_no_special"].append(tok.encode(s, add_special_tokens=False).ids)
        out["decode"].append(tok.decode(ids, skip_special_tokens=False))
        out["decode_skip_special"].append(tok.decode(ids, skip_special_tokens=True))
    rng = random.Random(7)
    size = tok.get_vocab_size(with_added_tokens=True)
    for _ in range(60):
        ids = [rng.randrange(size) if rng.random() < 0.5 else rng.randrange(min(size, 300))
               for _ in range(rng.randint(1, 12))]
        out["random_ids"].append(ids)
        out["random_decode"].append(tok.decode(ids, skip_special_tokens=False))
        out["random_decode_skip_special"].append(tok.decode(ids, skip_special_tokens=True))
    return out


# ----------------------------------------------------------------------------------------------------------------
# SmolLM2 from the GGUF
# ----------------------------------------------------------------------------------------------------------------

def smollm2(strings):
    from gguf import GGUFReader
    from transformers import AutoTokenizer

    hf = AutoTokenizer.from_pretrained(str(GGUF_DIR), gguf_file=GGUF_FILE)
    CHECKPOINT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        hf.save_pretrained(tmp)
        config = json.loads((Path(tmp) / "tokenizer_config.json").read_text())
        template_file = Path(tmp) / "chat_template.jinja"
        template = template_file.read_text() if template_file.exists() else hf.chat_template
    config["chat_template"] = template
    (CHECKPOINT / "tokenizer_config.json").write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n")
    (CHECKPOINT / "chat_template.jinja").write_text(template)
    hf.backend_tokenizer.save(str(CHECKPOINT / "tokenizer.json"), pretty=False)

    backend = Tokenizer.from_file(str(CHECKPOINT / "tokenizer.json"))
    exp = expected(backend, strings)
    # The saved tokenizer.json must reproduce transformers' own results.
    for s, ids, dec, dec_skip in zip(strings, exp["ids"], exp["decode"], exp["decode_skip_special"]):
        assert hf(s)["input_ids"] == ids, s
        assert hf.decode(ids) == dec and hf.decode(ids, skip_special_tokens=True) == dec_skip, s

    reader = GGUFReader(str(GGUF_DIR / GGUF_FILE))
    f = reader.fields

    def get(key):
        return f[key].contents() if key in f else None

    meta = {
        "model": get("tokenizer.ggml.model"), "pre": get("tokenizer.ggml.pre"),
        "tokens": get("tokenizer.ggml.tokens"), "merges": get("tokenizer.ggml.merges"),
        "token_type": get("tokenizer.ggml.token_type"),
        "bos_token_id": get("tokenizer.ggml.bos_token_id"), "eos_token_id": get("tokenizer.ggml.eos_token_id"),
        "unknown_token_id": get("tokenizer.ggml.unknown_token_id"),
        "padding_token_id": get("tokenizer.ggml.padding_token_id"),
        "add_bos_token": get("tokenizer.ggml.add_bos_token"), "add_eos_token": get("tokenizer.ggml.add_eos_token"),
        "chat_template": get("tokenizer.chat_template"),
    }
    assert meta["chat_template"] == hf.chat_template
    return hf, exp, meta


# ----------------------------------------------------------------------------------------------------------------
# Chat templates
# ----------------------------------------------------------------------------------------------------------------

QWEN2_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
CHATML_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + "
    "'\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
MISTRAL_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}"
    "{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}"
)

CONVERSATIONS = {
    "single": [{"role": "user", "content": "What is the capital of France?"}],
    "system": [{"role": "system", "content": "You are a terse assistant."},
               {"role": "user", "content": "Hi there"}],
    "multi": [{"role": "user", "content": "Hello!"},
              {"role": "assistant", "content": "Hi! How can I help?"},
              {"role": "user", "content": "Tell me a joke.\nMake it short."}],
    "system_multi": [{"role": "system", "content": "Answer in French."},
                     {"role": "user", "content": "Good morning"},
                     {"role": "assistant", "content": "Bonjour !"},
                     {"role": "user", "content": "Thanks \U0001f600"}],
}


def chat_cases(hf_smol, sp_hf):
    cases = []
    for tname, template, tok, convs in [
        ("smollm2", hf_smol.chat_template, hf_smol, CONVERSATIONS),
        ("qwen2", QWEN2_TEMPLATE, hf_smol, CONVERSATIONS),
        ("chatml", CHATML_TEMPLATE, hf_smol, CONVERSATIONS),
        ("mistral", MISTRAL_TEMPLATE, sp_hf, {k: v for k, v in CONVERSATIONS.items() if v[0]["role"] != "system"}),
    ]:
        for cname, messages in convs.items():
            for gen in (False, True):
                text = tok.apply_chat_template(messages, chat_template=template, tokenize=False,
                                               add_generation_prompt=gen)
                cases.append({"template_name": tname, "template": template, "conversation": cname,
                              "messages": messages, "add_generation_prompt": gen, "expected": text,
                              "bos_token": tok.bos_token, "eos_token": tok.eos_token})
    return cases


# ----------------------------------------------------------------------------------------------------------------

def dump(path, obj):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":")) + "\n",
                    encoding="utf-8")


FUZZ_POOL = (
    list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") * 4
    + [" "] * 30 + ["\n"] * 6 + ["\t", "\r", "\r\n", "\x0b", "\x0c", "\x1c", "\x1f", "\x85", "\u00a0", "\u1680",
                                "\u2000", "\u2009", "\u200a", "\u2028", "\u2029", "\u202f", "\u205f", "\u3000",
                                "\u200b", "\u180e", "\ufeff"]
    + list(".,;:!?'\"()[]{}<>-_=+*/\\|@#$%^&~`") * 2
    + ["'s", "'S", "'t", "'re", "'RE", "'ve", "'m", "'ll", "'LL", "'d", "'D", "'\u017f", "'x", "''"] * 2
    + ["\u00e9", "\u00fc", "\u00df", "\u0301", "\u0308", "\u0345", "\u093e", "\u0e31", "\u4f60", "\u597d",
       "\u3042", "\u30a2", "\ud55c", "\u05d0", "\u0627", "\u064b", "\u0663", "\u0966", "\u00bd", "\u00b2",
       "\u2460", "\u216b", "\u3007", "\U0001d7ce", "\U0001f600", "\U0001f44d", "\U0001f3fd", "\u200d", "\ufe0f",
       "\u20e3", "\U0001f1fa", "\u2581", "\u2014", "\u00a9", "\U00010400", "\U0002070e", "\u02b0", "\u01c5",
       "\u2160", "\uff21", "\uff11", "\u0130", "\u212a", "\ufb01"]
    + ["<|im_end|>", "<|endoftext|>", "<|im_start|>", "<s>", "</s>", "<unk>", "<mask>", "[SW]", "<rs>",
       "hello world", "<0x41>"]
)


def fuzz(path, count, seed=12345, wide=0.04):
    """Random strings (a wide mix of scalars, plus random BMP characters) with HF's splits and ids for every fixture
    tokenizer and SmolLM2, for `BPE_FUZZ_FILE=path swift test --filter BPETests/testFuzzParity` (not a fixture).
    `wide`: the share of characters drawn from the whole BMP and astral planes rather than the pool."""
    rng = random.Random(seed)
    strings = []
    for _ in range(count):
        parts = []
        for _ in range(rng.randint(0, 30)):
            r = rng.random()
            if r < wide:
                cp = rng.randrange(0x20, 0xFFFE) if rng.random() < 0.8 else rng.randrange(0x10000, 0x32000)
                parts.append(chr(cp) if not 0xD800 <= cp < 0xE000 else "x")
            else:
                parts.append(rng.choice(FUZZ_POOL))
        strings.append("".join(parts))
    out = {"strings": strings, "splits": {}, "ids": {}}
    for name, rx in (("gpt2", GPT2_REGEX), ("llama3", LLAMA3_REGEX), ("qwen2", QWEN2_REGEX)):
        pt = pre_tokenizers.Split(Regex(rx), behavior="isolated", invert=False)
        out["splits"][name] = [[piece for piece, _ in pt.pre_tokenize_str(s)] for s in strings]
    names = ["bytelevel", "llama3", "qwen2", "digits", "sp-llama2", "sp-mistral", "sp-metaspace"]
    for name in names:
        tok = Tokenizer.from_file(str(HERE / "bpe" / name / "tokenizer.json"))
        out["ids"][name] = [e.ids for e in tok.encode_batch(strings, add_special_tokens=True)]
    tok = Tokenizer.from_file(str(CHECKPOINT / "tokenizer.json"))
    out["ids"]["smollm2"] = [e.ids for e in tok.encode_batch(strings, add_special_tokens=True)]
    Path(path).write_text(json.dumps(out, ensure_ascii=False), encoding="utf-8")
    print(f"{count} fuzz strings written to {path}", file=sys.stderr)


def main():
    from transformers import PreTrainedTokenizerFast

    if len(sys.argv) >= 3 and sys.argv[1] == "--fuzz":
        fuzz(sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 20000,
             int(sys.argv[4]) if len(sys.argv) > 4 else 12345, float(sys.argv[5]) if len(sys.argv) > 5 else 0.04)
        return

    strings = make_strings()
    dump(HERE / "strings.json", strings)

    tokenizers_out = {}
    base = train_bytelevel(strings)
    (HERE / "bpe" / "bytelevel").mkdir(parents=True, exist_ok=True)
    base.save(str(HERE / "bpe" / "bytelevel" / "tokenizer.json"), pretty=False)
    tokenizers_out["bytelevel"] = base
    for name in ("llama3", "qwen2", "digits"):
        tok = variant(base.to_str(), name)
        (HERE / "bpe" / name).mkdir(parents=True, exist_ok=True)
        tok.save(str(HERE / "bpe" / name / "tokenizer.json"), pretty=False)
        tokenizers_out[name] = tok

    with tempfile.TemporaryDirectory() as tmp:
        vocab, merges, pieces = train_sentencepiece(strings, tmp)
    for layout in ("llama2", "mistral", "metaspace"):
        tok = sp_tokenizer(vocab, merges, layout)
        (HERE / "bpe" / f"sp-{layout}").mkdir(parents=True, exist_ok=True)
        tok.save(str(HERE / "bpe" / f"sp-{layout}" / "tokenizer.json"), pretty=False)
        tokenizers_out[f"sp-{layout}"] = tok

    # Reload every tokenizer from its saved file, so the expectations are those of the fixture files.
    exp = {}
    for name in tokenizers_out:
        tok = Tokenizer.from_file(str(HERE / "bpe" / name / "tokenizer.json"))
        exp[name] = expected(tok, strings)

    hf_smol, exp["smollm2"], meta = smollm2(strings)
    dump(HERE / "smollm2_gguf_vocab.json", meta)
    sp_meta, exp["sp-gguf"] = sp_gguf(pieces, strings)
    dump(HERE / "sp_gguf_vocab.json", sp_meta)
    dump(HERE / "expected_bpe.json", exp)

    splits = {}
    for name, rx in (("gpt2", GPT2_REGEX), ("llama3", LLAMA3_REGEX), ("qwen2", QWEN2_REGEX)):
        pt = pre_tokenizers.Split(Regex(rx), behavior="isolated", invert=False)
        splits[name] = [[piece for piece, _ in pt.pre_tokenize_str(s)] for s in strings]
    dump(HERE / "pretokenize.json", splits)

    sp_hf = PreTrainedTokenizerFast(tokenizer_file=str(HERE / "bpe" / "sp-llama2" / "tokenizer.json"),
                                    bos_token="<s>", eos_token="</s>", unk_token="<unk>")
    dump(HERE / "chat_templates.json", chat_cases(hf_smol, sp_hf))

    total = sum(f.stat().st_size for f in HERE.rglob("*") if f.is_file())
    print(f"{len(strings)} strings; fixtures {total / 1e6:.2f} MB; checkpoint tokenizer.json "
          f"{(CHECKPOINT / 'tokenizer.json').stat().st_size / 1e6:.2f} MB", file=sys.stderr)


if __name__ == "__main__":
    main()
