import Foundation

/// What `body` throws, as the user reads it, or "no error".
public func errorMessage(_ body: () throws -> Void) -> String {
    do {
        try body()
        return "no error"
    } catch {
        return error.localizedDescription
    }
}
