// swift-tools-version:5.9
// MemoRAG-Swift: train and serve Activation Beacon memory models for retrieval-augmented generation.
//
// Native libraries come in through flags-only `systemLibrary` targets fed by pkg-config (`torch.pc` is written by
// `scripts/setup.sh`; Debian ships none), so the package needs no `unsafeFlags` and works as a dependency.
import PackageDescription

let strict: [SwiftSetting] = [.enableExperimentalFeature("StrictConcurrency")]

let package = Package(
    name: "MemoRAG",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "memorag", targets: ["MemoRAGCLI"]),
        .library(name: "Torch", targets: ["Torch"]),
        .library(name: "NN", targets: ["NN"]),
        .library(name: "Tokenizers", targets: ["Tokenizers"]),
        .library(name: "Models", targets: ["Models"]),
        .library(name: "MemoRAG", targets: ["MemoRAG"]),
        .library(name: "Retrieval", targets: ["Retrieval"]),
        .library(name: "Datasets", targets: ["Datasets"]),
        .library(name: "Training", targets: ["Training"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
    ],
    targets: [
        // pkg-config flags for libtorch (include paths, -ltorch -ltorch_cpu -lc10); no code of its own.
        .systemLibrary(name: "CLibTorch", path: "Sources/CLibTorch", pkgConfig: "torch",
                       providers: [.apt(["libtorch-dev"])]),
        // The HDF5 C API (serial build).
        .systemLibrary(name: "CHDF5", path: "Sources/CHDF5", pkgConfig: "hdf5",
                       providers: [.apt(["libhdf5-dev"])]),
        // pkg-config flags for Debian's static faiss 1.7.3 (-lfaiss -llapack -lblas -lgomp); no code of its own.
        .systemLibrary(name: "CFaiss", path: "Sources/CFaiss", pkgConfig: "faiss",
                       providers: [.apt(["libfaiss-dev"])]),
        // zlib (inflate), for the corpus tools' R lazy-load databases and gzip files.
        // No pkgConfig: zlib.pc names -L/usr/lib/x86_64-linux-gnu, which would put Debian's libtorch ahead of the
        // one torch.pc names; zlib.h and libz are on the default paths.
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", providers: [.apt(["zlib1g-dev"])]),
        // The only code that includes libtorch and faiss headers: a pure-C API of opaque handles and int status codes
        // (faiss in the explicit submodule CTorch.Faiss).
        .target(name: "CTorch", dependencies: ["CFaiss", "CLibTorch"], path: "Sources/CTorch",
                linkerSettings: [.linkedLibrary("m")]),
        .target(name: "Torch", dependencies: ["CTorch"], swiftSettings: strict),
        .target(name: "NN", dependencies: ["Torch"], swiftSettings: strict),
        // Pure Swift (Foundation only): HF tokenizer.json BPE / SentencePiece-BPE / WordPiece, a BPE trainer, chat templates.
        .target(name: "Tokenizers", resources: [.copy("Resources/prompts")], swiftSettings: strict),
        // Llama/Qwen2/Mistral decoders, the BERT encoder, HF and GGUF loading, generation.
        .target(name: "Models", dependencies: ["NN", "Torch", "Tokenizers"], swiftSettings: strict),
        // Chunker, sentence embedder and faiss vector index for the retrieval step.
        .target(name: "Retrieval", dependencies: ["Models", "Torch", "CTorch", "Tokenizers"], swiftSettings: strict),
        // The pipeline and its public Swift API: memorize / load / recall / rewrite / answer / summarize / ask.
        .target(name: "MemoRAG",
                dependencies: ["Models", "Retrieval", "Tokenizers", "Torch",
                               .product(name: "AsyncHTTPClient", package: "async-http-client")],
                swiftSettings: strict),
        // HDF5 token and SFT stores, seeded long-context samplers, corpus tools, clue-data synthesis.
        .target(name: "Datasets", dependencies: ["Torch", "Tokenizers", "CHDF5", "CZlib"], swiftSettings: strict),
        // Recipes (YAML + key=value), the trainer loop, LR schedules, checkpoint/resume, metrics, export; the
        // clue-feedback stage scores clues with the retriever.
        .target(name: "Training",
                dependencies: ["Models", "Datasets", "NN", "Torch", "Tokenizers", "Retrieval",
                               .product(name: "Yams", package: "Yams")],
                swiftSettings: strict),
        // `memorag serve`: memories as HTTP resources and an OpenAI-compatible chat endpoint (Hummingbird).
        .target(name: "Server",
                dependencies: ["MemoRAG", .product(name: "Hummingbird", package: "hummingbird")],
                resources: [.copy("Resources/openapi.json")], swiftSettings: strict),
        .executableTarget(name: "MemoRAGCLI",
                          dependencies: ["Torch", "NN", "Models", "Tokenizers", "Retrieval", "MemoRAG", "Datasets", "Training",
                                         "Server", .product(name: "AsyncHTTPClient", package: "async-http-client"),
                                         .product(name: "ArgumentParser", package: "swift-argument-parser")],
                          swiftSettings: strict),
        .target(name: "TestSupport", dependencies: ["Torch"], path: "Tests/TestSupport", swiftSettings: strict),
        // Tiny random models (a Llama memory model, a BERT retriever) written at test time, for the pipeline,
        // server and CLI tests that must check their mechanics without installed models.
        .target(name: "TinyModels", dependencies: ["Models", "Tokenizers", "Torch"], path: "Tests/TinyModels",
                swiftSettings: strict),
        .testTarget(name: "TorchTests", dependencies: ["Torch", "TestSupport"],
                    resources: [.copy("Fixtures")], swiftSettings: strict),
        .testTarget(name: "TokenizersTests", dependencies: ["Tokenizers", "TestSupport"], resources: [.copy("Fixtures")],
                    swiftSettings: strict),
        .testTarget(name: "ModelsTests", dependencies: ["Models", "NN", "Torch", "Tokenizers", "TestSupport", "TinyModels"],
                    resources: [.copy("Fixtures")], swiftSettings: strict),
        // A chat-completions server on loopback (Hummingbird), for the API client and `synth-clues --generator openai`.
        .target(name: "FakeOpenAI", dependencies: [.product(name: "Hummingbird", package: "hummingbird")],
                path: "Tests/FakeOpenAI", swiftSettings: strict),
        .testTarget(name: "MemoRAGTests",
                    dependencies: ["MemoRAG", "Retrieval", "Models", "Torch", "Tokenizers", "TestSupport", "TinyModels",
                                   "FakeOpenAI",
                                   .product(name: "Hummingbird", package: "hummingbird")],
                    swiftSettings: strict),
        .testTarget(name: "RetrievalTests", dependencies: ["Retrieval", "Models", "Tokenizers", "Torch", "TestSupport", "TinyModels"],
                    resources: [.copy("Fixtures")], swiftSettings: strict),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "Datasets", "Models", "NN", "Retrieval", "Torch", "Tokenizers", "TestSupport", "TinyModels"], exclude: ["Scripts"],
                    swiftSettings: strict),
        .testTarget(name: "ServerTests",
                    dependencies: ["Server", "MemoRAG", "Torch", "TestSupport", "TinyModels",
                                   .product(name: "Hummingbird", package: "hummingbird"),
                                   .product(name: "AsyncHTTPClient", package: "async-http-client")],
                    resources: [.copy("Fixtures")], swiftSettings: strict),
        // Data-parallel training end to end: real rank processes of the built `memorag` binary over c10d on loopback.
        .testTarget(name: "DistributedTests", dependencies: ["Training", "Datasets", "Torch", "TestSupport"],
                    swiftSettings: strict),
        // The CLI end to end: the fault corpus runs the built `memorag` binary on hostile inputs.
        .testTarget(name: "CLITests", dependencies: ["TestSupport", "TinyModels", "FakeOpenAI"], swiftSettings: strict),
        .testTarget(name: "NNTests", dependencies: ["NN", "Torch", "TestSupport"], resources: [.copy("Fixtures")],
                    swiftSettings: strict),
        .testTarget(name: "DatasetsTests", dependencies: ["Datasets", "Models", "Tokenizers", "Torch", "TestSupport", "TinyModels"],
                    resources: [.copy("Fixtures")], swiftSettings: strict),
    ],
    cxxLanguageStandard: .cxx17
)
