import Foundation

/// JSON values (as JSONSerialization reads them) equal except for `seconds` fields, with numbers within `tolerance`
/// relative: the same records computed in other batches, or on another CPU's kernels, agree only to float rounding.
public func sameJSON(_ a: Any, _ b: Any, tolerance: Double = 1e-4) -> Bool {
    switch (a, b) {
    case (let a as [String: Any], let b as [String: Any]):
        let keys = Set(a.keys).union(b.keys).subtracting(["seconds"])
        return keys.allSatisfy { key in a[key].flatMap { x in b[key].map { sameJSON(x, $0, tolerance: tolerance) } } ?? false }
    case (let a as [Any], let b as [Any]):
        return a.count == b.count && zip(a, b).allSatisfy { sameJSON($0, $1, tolerance: tolerance) }
    case (let a as String, let b as String):
        return a == b
    case (let a as NSNumber, let b as NSNumber):
        return abs(a.doubleValue - b.doubleValue) <= tolerance * max(1, abs(a.doubleValue), abs(b.doubleValue))
    default:
        return false
    }
}

/// The lines of a JSON-lines text, each parsed.
public func jsonLines(_ text: String) throws -> [Any] {
    try text.split(separator: "\n").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) }
}
