import Foundation

/// Everything that can make a conversion impossible, each naming the file and the key or place at fault.
public enum ConvertError: LocalizedError, Equatable, Sendable {
    case inputNotFound(path: String)
    case unreadableCheckpoint(path: String, reason: String)
    case forbiddenGlobal(path: String, global: String)
    case legacyTorchFormat(path: String)
    case badTensor(path: String, tensor: String, reason: String)
    case missingShard(index: String, shard: String)
    case duplicateTensor(tensor: String, first: String, second: String)
    case unknownRecipe(name: String, known: [String])
    case cannotDetectRecipe(reason: String)
    case keyMismatch(recipe: String, unmapped: [String], missing: [String])
    case shapeMismatch(recipe: String, problems: [String])
    case badOption(reason: String)
    case verificationFailed(path: String, reason: String)

    public var errorDescription: String? {
        switch self {
        case .inputNotFound(let path):
            "\(path): no such file or directory"
        case .unreadableCheckpoint(let path, let reason):
            "\(path): \(reason)"
        case .forbiddenGlobal(let path, let global):
            "\(path): refused to load: the pickle asks for '\(global)', which a state_dict never needs (nothing was executed)"
        case .legacyTorchFormat(let path):
            "\(path): this is a legacy (pre-1.6, non-zip) torch file; re-save it with "
                + "`torch.save(torch.load(path, weights_only=True), new_path)` and convert the new file"
        case .badTensor(let path, let tensor, let reason):
            "\(path): tensor '\(tensor)': \(reason)"
        case .missingShard(let index, let shard):
            "\(index): lists shard '\(shard)', which is not there"
        case .duplicateTensor(let tensor, let first, let second):
            "tensor '\(tensor)' appears in both \(first) and \(second)"
        case .unknownRecipe(let name, let known):
            "unknown recipe '\(name)'; known recipes: \(known.joined(separator: ", "))"
        case .cannotDetectRecipe(let reason):
            "cannot tell which recipe fits these inputs: \(reason); name one with --recipe"
        case .keyMismatch(let recipe, let unmapped, let missing):
            Self.listing(
                "the checkpoint does not match recipe '\(recipe)'",
                [("\(missing.count) required tensor(s) missing", missing), ("\(unmapped.count) tensor(s) the recipe does not know", unmapped)])
        case .shapeMismatch(let recipe, let problems):
            Self.listing("tensor shapes do not fit recipe '\(recipe)'", [("\(problems.count) problem(s)", problems)])
        case .badOption(let reason):
            reason
        case .verificationFailed(let path, let reason):
            "\(path): the written file failed its final check: \(reason)"
        }
    }

    /// A one-line summary followed by every item, so that a wrong checkpoint is diagnosed in one run.
    private static func listing(_ headline: String, _ groups: [(String, [String])]) -> String {
        var text = headline
        for (title, items) in groups where !items.isEmpty {
            text += "\n  \(title):"
            for item in items { text += "\n    \(item)" }
        }
        return text
    }
}
