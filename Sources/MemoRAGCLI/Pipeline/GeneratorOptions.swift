import ArgumentParser
import Foundation
import MemoRAG

/// Where an OpenAI-compatible chat API is and how to call it: the options every `--generator openai|azure` shares
/// (`ask`, `eval`, `serve`, `bench pipeline`, `data synth-clues`).
struct APIOptions: ParsableArguments {
    @Option(help: "With openai/azure: the API base URL (e.g. https://api.openai.com/v1, https://api.deepseek.com/v1, http://127.0.0.1:8080/v1; Azure: https://NAME.openai.azure.com).")
    var baseURL: String?
    @Option(help: "With openai/azure: the model (Azure: the deployment).") var apiModel: String?
    @Option(help: "With azure: the api-version.") var azureAPIVersion = "2024-06-01"
    @Option(help: "The environment variable holding the API key (default OPENAI_API_KEY, or AZURE_OPENAI_API_KEY).")
    var apiKeyEnv: String?
    @Option(help: "Seconds per API attempt.") var apiTimeout: Double = 120
    @Option(help: "Further API attempts after a 429, a 5xx or a refused or dropped connection.") var apiRetries = 3
    @Option(help: "Seconds before the first API retry; doubles each retry (unless the server sends Retry-After).")
    var apiBackoff: Double = 1

    /// The endpoint for `--generator NAME` (openai or azure), its key read from the environment.
    func configuration(generator name: String, azure: Bool) throws -> OpenAIConfiguration {
        guard let baseURL, let apiModel else {
            throw ValidationError("--generator \(name) needs --base-url and --api-model")
        }
        let flavor: OpenAIConfiguration.Flavor = azure ? .azure(apiVersion: azureAPIVersion) : .openAI
        var configuration = OpenAIConfiguration.fromEnvironment(baseURL: baseURL, model: apiModel, flavor: flavor,
                                                               keyVariable: apiKeyEnv)
        configuration.timeout = apiTimeout
        configuration.maxRetries = max(0, apiRetries)
        configuration.initialBackoff = max(0, apiBackoff)
        return configuration
    }
}

/// Which generator writes the final answer.
struct GeneratorOptions: ParsableArguments {
    enum Kind: String, ExpressibleByArgument, CaseIterable { case memory, evidence, local, openai, azure }

    @Option(help: "Answer generator: evidence (the memory model on the evidence alone, default), memory (the memory model continuing from the memory, as the reference MemoRAG), local (--generator-model), openai or azure.")
    var generator: Kind = .evidence
    @Option(help: "With --generator local: a model dir or .gguf.") var generatorModel: String?
    @OptionGroup var api: APIOptions

    func choice() throws -> GeneratorChoice {
        switch generator {
        case .memory: return .memoryModel
        case .evidence: return .memoryModelOnEvidence
        case .local:
            guard let generatorModel else { throw ValidationError("--generator local needs --generator-model") }
            return .localModel(URL(fileURLWithPath: generatorModel))
        case .openai, .azure:
            return .openAI(try api.configuration(generator: generator.rawValue, azure: generator == .azure))
        }
    }
}
