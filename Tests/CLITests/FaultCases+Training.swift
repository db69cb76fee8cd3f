extension FaultCase {
    /// The tiny-test recipe on the tiny Llama fixture, with its output in the case dir (which must stay absent when
    /// the run is refused: nothing is written before the recipe is checked).
    private static let tinyTrain = ["train", "$FIXTURES/../recipes/tiny-test.yaml",
                                    "model.path=$FIXTURES/ModelsTests/Fixtures/decoders/llama",
                                    "data.train=$CASE/tokens.json", "output_dir=$CASE/run"]
    /// 500 token ids as one JSON document (what the tiny-test recipe trains on).
    private static let tokens = #"{ printf '[['; seq -s, 0 499 | tr -d '\n'; printf ']]'; } > tokens.json"#
    /// A tokenizer dir (the byte-level BPE fixture) and an HDF5 token store of alice.txt made with it.
    private static let store = #"""
        mkdir tok && cp "$FIXTURES/TokenizersTests/Fixtures/bpe/bytelevel/tokenizer.json" tok/
        head -c 20000 "$FIXTURES/../Examples/alice.txt" > alice.txt
        "$MEMORAG" data prepare --tokenizer tok --out data.h5 alice.txt 2>/dev/null
        """#

    /// Hostile inputs met by the training side of the CLI.
    static let training: [FaultCase] = [
        // Trapped converting the seed to UInt64 after recipe.yaml was written.
        FaultCase(name: "train-negative-seed", make: tokens, arguments: tinyTrain + ["seed=-1"],
                  expectedError: "'seed': must not be negative", unchanged: ["run"]),
        // Yams recursed 100,000 levels deep and overflowed the stack.
        FaultCase(name: "recipe-nested-100000-deep",
                  make: tokens + #"""

                      { cat "$FIXTURES/../recipes/tiny-test.yaml"; printf 'extra: '
                        head -c 100000 /dev/zero | tr '\0' '['; echo; } > deep.yaml
                      """#,
                  arguments: ["train", "$CASE/deep.yaml", "output_dir=$CASE/run"],
                  expectedError: "deep.yaml: may nest lists and mappings", unchanged: ["run"]),
        // Nine levels of ten aliases ("billion laughs") expanded without bound.
        FaultCase(name: "recipe-alias-bomb",
                  make: #"""
                      { echo 'l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]'
                        for i in 1 2 3 4 5 6 7 8 9; do p="*l$((i - 1))"
                          echo "l$i: &l$i [$p, $p, $p, $p, $p, $p, $p, $p, $p, $p]"; done
                        cat "$FIXTURES/../recipes/tiny-test.yaml"; } > bomb.yaml
                      """#,
                  arguments: ["train", "$CASE/bomb.yaml", "output_dir=$CASE/run"],
                  expectedError: "bomb.yaml: expands to more than", unchanged: ["run"]),
        // Sampled 10^8 windows into one batch before any check.
        FaultCase(name: "train-batch-size-1e8", make: store,
                  arguments: ["train", "$FIXTURES/../recipes/tiny-test.yaml",
                              "model.path=$FIXTURES/ModelsTests/Fixtures/decoders/llama", "data.train=$CASE/data.h5",
                              "batch_size=100000000", "output_dir=$CASE/run"],
                  expectedError: "'batch_size': 100000000 sequences", unchanged: ["run"]),
        // YAML forbids a key twice; Yams kept the last one silently.
        FaultCase(name: "recipe-duplicate-key",
                  make: tokens + "\n" + #"{ cat "$FIXTURES/../recipes/tiny-test.yaml"; echo 'seed: 7'; } > twice.yaml"#,
                  arguments: ["train", "$CASE/twice.yaml", "model.path=$FIXTURES/ModelsTests/Fixtures/decoders/llama",
                              "data.train=$CASE/tokens.json", "output_dir=$CASE/run"],
                  expectedError: "twice.yaml:45: key 'seed' is given twice", unchanged: ["run"]),
        FaultCase(name: "train-duplicate-override", make: tokens, arguments: tinyTrain + ["seed=1", "seed=2"],
                  expectedError: "override 'seed=2': key 'seed' is given twice", unchanged: ["run"]),
        // A store of another tokenizer failed at step 1 inside libtorch ("index out of range in self").
        FaultCase(name: "train-store-of-another-tokenizer",
                  make: store + "\n" + #"""
                      cp -r "$FIXTURES/ModelsTests/Fixtures/decoders/llama" model
                      cp "$FIXTURES/TokenizersTests/Fixtures/bpe/qwen2/tokenizer.json" model/
                      """#,
                  arguments: ["train", "$FIXTURES/../recipes/tiny-test.yaml", "model.path=$CASE/model",
                              "data.train=$CASE/data.h5", "output_dir=$CASE/run"],
                  expectedError: "data.h5: made with another tokenizer"),
        // An empty input replaced a good store with one holding no tokens.
        FaultCase(name: "data-prepare-empty-input",
                  make: store + "\nmv data.h5 good.h5; : > empty.txt",
                  arguments: ["data", "prepare", "--tokenizer", "$CASE/tok", "--out", "$CASE/good.h5", "$CASE/empty.txt"],
                  expectedError: "empty.txt: no text in the inputs", unchanged: ["good.h5"]),
    ]
}
