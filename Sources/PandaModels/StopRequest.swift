import Dispatch
import Foundation

/// SIGINT and SIGTERM as a request to stop, the way a scheduler or a person at a terminal means them: the first
/// lets the work in progress end where nothing is lost (a job commits what it finished and writes its outputs, a
/// generation keeps what it printed); a second SIGINT ends the process at once.
public final class StopRequest: @unchecked Sendable {
    // @unchecked: `received` is read and written under `lock`.
    private let lock = NSLock()
    private var received: Int32?
    private var sources: [DispatchSourceSignal] = []

    /// The signal that asked to stop, if one has.
    public var signal: Int32? { lock.withLock { received } }

    /// The exit status a process stopped by it should end with: 128 + the signal, as the shell reports it.
    public var exitStatus: Int32? { signal.map { 128 + $0 } }

    private init() {}

    /// Takes over SIGINT and SIGTERM for the rest of the process. `onFirst` runs (on a background queue) when the
    /// first arrives, to say what will happen.
    public static func install(onFirst: @escaping @Sendable (Int32) -> Void = { _ in }) -> StopRequest {
        let request = StopRequest()
        for number in [SIGINT, SIGTERM] {
            Foundation.signal(number, SIG_IGN)  // delivered to the dispatch source instead
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { [request, source] in
                // Signals that arrive before the handler runs come as one event: two quick Ctrl-Cs are a count of 2.
                var count = Int(source.data)
                let first = request.lock.withLock { () -> Bool in
                    guard request.received == nil else { return false }
                    request.received = number
                    return true
                }
                if first {
                    onFirst(number)
                    count -= 1
                }
                if count > 0 && number == SIGINT {
                    FileHandle.standardError.write(Data("\n".utf8))
                    _exit(128 + SIGINT)
                }
            }
            source.resume()
            request.sources.append(source)
        }
        return request
    }

    /// Forgets a stop that was asked for, so that the next signal stops the next piece of work (a chat's next answer)
    /// instead of ending the process.
    public func reset() { lock.withLock { received = nil } }

    /// A request already made, for tests and for code that stops for other reasons.
    public static func requested(by signal: Int32) -> StopRequest {
        let request = StopRequest()
        request.received = signal
        return request
    }
}
