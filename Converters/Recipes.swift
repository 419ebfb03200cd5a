import PandaConvert

/// The conversion recipes, one file per checkpoint family in this folder.
public enum Recipes {
    public static let all: [Recipe] = [imagebindHuge, llama, pandagptDelta]

    public static func named(_ name: String) throws -> Recipe {
        guard let recipe = all.first(where: { $0.name == name }) else {
            throw ConvertError.unknownRecipe(name: name, known: all.map(\.name))
        }
        return recipe
    }

    /// The one recipe whose signature keys are all present in the inputs.
    public static func detect(_ inputs: ConversionInputs) throws -> Recipe {
        let fitting = all.filter { recipe in
            recipe.signature.allSatisfy { key in inputs.tensors.keys.contains { name in recipe.canonicalName(name) == key } }
        }
        switch fitting.count {
        case 1:
            return fitting[0]
        case 0:
            let sample = inputs.order.prefix(5).joined(separator: ", ")
            throw ConvertError.cannotDetectRecipe(
                reason: inputs.order.isEmpty ? "no tensors were found in the inputs" : "no recipe recognizes tensors such as \(sample)")
        default:
            throw ConvertError.cannotDetectRecipe(reason: "several recipes fit: \(fitting.map(\.name).joined(separator: ", "))")
        }
    }
}
