import Foundation
import Torch

extension DecoderLM {
    /// `config.json` for this model saved with weights in `dtype`, as transformers writes it (with `architectures`
    /// and `torch_dtype`), so `AutoModelForCausalLM.from_pretrained` and `DecoderLM.load` both read it.
    public func hfConfigJSON(dtype: DType) throws -> Data {
        var object = try JSONSerialization.jsonObject(with: JSONEncoder().encode(config)) as! [String: Any]
        object["architectures"] = [GGUFConversion.architectureName(config.modelType)]
        object["torch_dtype"] = dtype == .bfloat16 ? "bfloat16" : dtype == .float16 ? "float16" : "float32"
        return try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
    }
}
