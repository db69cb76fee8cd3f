import Foundation
import Torch

/// A training run described as data: what `recipes/*.yaml` holds after `key=value` overrides. Keys are the YAML
/// spellings (snake_case); every key is listed in `RecipeSchema`, which the override parser checks against.
public struct Recipe: Codable, Sendable, Equatable {
    public enum Stage: String, Codable, Sendable, CaseIterable {
        /// Compression pretraining of the beacon parameters on long contexts (beacon objective).
        case beaconPretrain = "beacon-pretrain"
        /// Supervised fine-tuning on clue-writing examples (beacon objective, prompt tokens masked).
        case sft
        /// Plain causal-LM training of the decoder (no beacons).
        case lm
        /// Clue training on retrieval feedback (MemoRAG's third stage): clue sets sampled from the memory of a
        /// training document are scored by how much they lift the evidence passage's reciprocal rank over the
        /// question alone; the best one trains as a clue SFT example (rejection sampling), or is preferred to the
        /// worst by DPO (`ClueFeedbackSource`; settings in `feedback`, clue data in `data.train`).
        case clueFeedback = "clue-feedback"
    }

    public struct Model: Codable, Sendable, Equatable {
        /// An HF-layout directory (config.json + safetensors) or a GGUF file.
        public var path: String
    }

    public struct DataSection: Codable, Sendable, Equatable {
        /// Training data: a JSON file holding an array of token-id documents (`[[1, 2, …], …]`).
        public var train: String
        /// Held-out data in the same format; without it there is no validation loss.
        public var validation: String?
        /// Candidate compression ratios (beacon stages).
        public var ratios: [Int]?
        /// `step-random`, `instance-random`, `adapt-N` or a fixed ratio (beacon stages).
        public var ratioMix: String?
        /// Shortest and longest sample in tokens; plain LM samples are `max_length` tokens.
        public var minLength: Int
        public var maxLength: Int

        enum CodingKeys: String, CodingKey {
            case train, validation, ratios, ratioMix = "ratio_mix", minLength = "min_length", maxLength = "max_length"
        }
    }

    public struct Trainable: Codable, Sendable, Equatable {
        public enum Mode: String, Codable, Sendable, CaseIterable {
            /// Only parameters whose name contains `beacon` (the reference's `only_train_beacon`).
            case onlyBeacon = "only_beacon"
            /// Every parameter.
            case full
            /// The parameters matching `patterns` (globs over HF names, `*` matches dots too).
            case patterns
            /// Low-rank adapters on the Linear layers named in `lora_modules` (e.g. q_proj, v_proj); everything else
            /// frozen. Export merges them into the weights.
            case lora
        }
        public var mode: Mode
        public var patterns: [String]?
        public var loraModules: [String]?
        public var loraRank: Int?
        public var loraAlpha: Double?

        enum CodingKeys: String, CodingKey {
            case mode, patterns, loraModules = "lora_modules", loraRank = "lora_rank", loraAlpha = "lora_alpha"
        }
    }

    public struct Optimizer: Codable, Sendable, Equatable {
        public var lr: Double
        public var betas: [Double]
        public var weightDecay: Double
        public var eps: Double

        enum CodingKeys: String, CodingKey { case lr, betas, weightDecay = "weight_decay", eps }
    }

    public struct Schedule: Codable, Sendable, Equatable {
        public var warmupSteps: Int
        public var decay: LRSchedule.Decay
        /// Floor of the decay, as an absolute learning rate.
        public var minLR: Double

        enum CodingKeys: String, CodingKey { case warmupSteps = "warmup_steps", decay, minLR = "min_lr" }
    }

    public struct Checkpoint: Codable, Sendable, Equatable {
        /// Steps between checkpoints (the last step is always saved).
        public var every: Int
        /// Complete checkpoints kept; older ones are deleted after a new one is complete.
        public var keepLast: Int

        enum CodingKeys: String, CodingKey { case every, keepLast = "keep_last" }
    }

    public struct Validation: Codable, Sendable, Equatable {
        public var every: Int
        public var batches: Int
    }

    public struct Log: Codable, Sendable, Equatable {
        public var every: Int
    }

    /// Data-parallel training over c10d (used only when the process is one rank of several: `RANK`/`WORLD_SIZE` set
    /// by `memorag train --nproc-per-node N`, torchrun or a scheduler). Every key has a default.
    public struct Distributed: Codable, Sendable, Equatable {
        public enum Backend: String, Codable, Sendable, CaseIterable {
            /// Gloo for CPU tensors (NCCL once tensors live on CUDA devices).
            case auto, gloo, nccl
        }
        public var backend: Backend?
        /// Seconds a rendezvous or a collective may wait for the other ranks before it fails.
        public var timeoutS: Double?
        /// Gradient bucket size in MB: one all-reduce per bucket (DDP's default is 25).
        public var bucketMB: Double?

        public static let defaultTimeoutS = 300.0
        public static let defaultBucketMB = 25.0

        enum CodingKeys: String, CodingKey { case backend, timeoutS = "timeout_s", bucketMB = "bucket_mb" }
    }

    public var model: Model
    public var data: DataSection
    public var stage: Stage
    public var trainable: Trainable
    public var optimizer: Optimizer
    public var schedule: Schedule
    public var maxSteps: Int
    /// Sequences per micro-batch.
    public var batchSize: Int
    /// Micro-batches per optimizer step (effective batch = batch_size × grad_accumulation).
    public var gradAccumulation: Int
    /// Clip the global gradient norm to this; absent: measure only.
    public var clipGradNorm: Double?
    /// `fp32`, `bf16` or `auto` (`ComputeDType.choose`: bf16 only where this CPU's bf16 matmul measures faster):
    /// the dtype of the weights, activations and optimizer moments.
    public var dtype: String
    /// `auto`, `cpu`, `cuda` or `cuda:N` (absent: `auto`, or on resume what the run's saved recipe says): where the
    /// model, its activations and the optimizer state live. `auto` takes the first GPU when libtorch has CUDA and
    /// one is visible. Checkpoints are device-free, so a run may resume on another device.
    public var device: String?
    public var checkpoint: Checkpoint
    public var validation: Validation
    public var log: Log
    public var seed: Int
    /// Intra-op threads (absent: all cores). Bitwise resume needs the same count.
    public var threads: Int?
    public var outputDir: String
    /// Continue from the newest complete checkpoint in `output_dir`.
    public var resume: Bool
    public var distributed: Distributed?
    /// Settings of stage `clue-feedback` (absent: its defaults); refused by the other stages.
    public var feedback: Feedback?
    /// The `feedback` section as the stage runs it: the defaults where it is absent.
    public var feedbackSettings: Feedback { feedback ?? Feedback() }

    enum CodingKeys: String, CodingKey {
        case model, data, stage, trainable, optimizer, schedule, maxSteps = "max_steps", batchSize = "batch_size"
        case gradAccumulation = "grad_accumulation", clipGradNorm = "clip_grad_norm", dtype, device, checkpoint, validation, log
        case seed, threads, outputDir = "output_dir", resume, distributed, feedback
    }

    /// Tokens one micro-batch may hold (batch_size × data.max_length): 16M tokens of ids alone are 128 MB, and the
    /// activations of a real model over them far exceed any machine; `TrainingSetup` also checks the model's size.
    public static let maxBatchTokens = 1 << 24
    /// Bounds that catch a slipped digit before anything is allocated (a LoRA rank above any layer's width, a
    /// thread count no machine has).
    public static let maxLoRARank = 1 << 14
    public static let maxThreads = 1024

    /// Checks the values against each other and against sane bounds, before anything is written or allocated; the
    /// message names the key.
    public func validate() throws {
        func fail(_ key: String, _ why: String) -> RecipeError { .invalidValue(key: key, reason: why) }
        guard maxSteps > 0 else { throw fail("max_steps", "must be positive") }
        guard batchSize > 0 else { throw fail("batch_size", "must be positive") }
        guard gradAccumulation > 0 else { throw fail("grad_accumulation", "must be positive") }
        // libtorch and the samplers take the seed as an unsigned 64-bit number.
        guard seed >= 0 else { throw fail("seed", "must not be negative, got \(seed)") }
        guard optimizer.lr > 0, optimizer.lr.isFinite else { throw fail("optimizer.lr", "must be positive and finite") }
        guard optimizer.betas.count == 2, optimizer.betas.allSatisfy({ $0 >= 0 && $0 < 1 }) else {
            throw fail("optimizer.betas", "needs two values in [0, 1)")
        }
        guard optimizer.eps > 0, optimizer.eps.isFinite else { throw fail("optimizer.eps", "must be positive and finite") }
        guard optimizer.weightDecay >= 0, optimizer.weightDecay.isFinite else {
            throw fail("optimizer.weight_decay", "must be finite and not negative")
        }
        guard schedule.warmupSteps >= 0 else { throw fail("schedule.warmup_steps", "must not be negative") }
        guard schedule.minLR >= 0, schedule.minLR <= optimizer.lr, schedule.minLR.isFinite else {
            throw fail("schedule.min_lr", "must lie in [0, optimizer.lr]")
        }
        guard data.minLength > 1, data.maxLength >= data.minLength else {
            throw fail("data.max_length", "needs 1 < min_length ≤ max_length")
        }
        guard batchSize <= Self.maxBatchTokens / data.maxLength else {
            throw fail("batch_size", "\(batchSize) sequences of data.max_length \(data.maxLength) tokens is more than "
                       + "\(Self.maxBatchTokens) tokens in one micro-batch; lower batch_size (grad_accumulation "
                       + "makes larger effective batches)")
        }
        if let ratios = data.ratios, let bad = ratios.first(where: { $0 <= 0 || $0 > data.maxLength }) {
            throw fail("data.ratios", "\(bad) is not a compression ratio in 1…data.max_length (\(data.maxLength))")
        }
        guard checkpoint.every > 0 else { throw fail("checkpoint.every", "must be positive") }
        guard checkpoint.keepLast > 0 else { throw fail("checkpoint.keep_last", "must be positive") }
        guard validation.every > 0, validation.batches > 0 else { throw fail("validation", "every and batches must be positive") }
        guard log.every > 0 else { throw fail("log.every", "must be positive") }
        guard ["fp32", "bf16", "auto"].contains(dtype) else { throw fail("dtype", "must be fp32, bf16 or auto, got '\(dtype)'") }
        if let device, (try? DeviceChoice(parsing: device)) == nil {
            throw fail("device", "must be auto, cpu, cuda or cuda:N (N a GPU index), got '\(device)'")
        }
        if let clip = clipGradNorm, clip <= 0 || !clip.isFinite {
            throw fail("clip_grad_norm", "must be positive and finite (delete it with ~clip_grad_norm)")
        }
        if let threads, threads <= 0 || threads > Self.maxThreads { throw fail("threads", "must lie in 1…\(Self.maxThreads)") }
        if trainable.mode == .lora {
            guard !(trainable.loraModules ?? []).isEmpty else { throw fail("trainable.lora_modules", "mode 'lora' needs a non-empty list") }
            guard let rank = trainable.loraRank, rank > 0, rank <= Self.maxLoRARank else {
                throw fail("trainable.lora_rank", "mode 'lora' needs a rank in 1…\(Self.maxLoRARank)")
            }
            guard let alpha = trainable.loraAlpha, alpha > 0, alpha.isFinite else {
                throw fail("trainable.lora_alpha", "mode 'lora' needs a positive, finite alpha")
            }
        }
        if let timeout = distributed?.timeoutS, !(timeout > 0 && timeout <= 86_400) {
            throw fail("distributed.timeout_s", "must lie in (0, 86400] seconds, got \(timeout)")
        }
        if let bucket = distributed?.bucketMB, !(bucket > 0 && bucket <= 4096) {
            throw fail("distributed.bucket_mb", "must lie in (0, 4096] MB, got \(bucket)")
        }
        if trainable.mode == .patterns, (trainable.patterns ?? []).isEmpty {
            throw fail("trainable.patterns", "mode 'patterns' needs a non-empty list")
        }
        if stage == .clueFeedback {
            try (feedback ?? Feedback()).validate(maxSteps: maxSteps)
        } else if feedback != nil {
            throw fail("feedback", "its keys are settings of stage clue-feedback, not of stage \(stage.rawValue)")
        }
    }
}

extension Recipe {
    /// The compute and master dtypes the recipe's (concrete) `dtype` means on `device`.
    func precision(on device: Device) -> TrainingPrecision {
        TrainingPrecision.resolve(dtype: dtype == "bf16" ? .bfloat16 : .float32, device: device)
    }
}
