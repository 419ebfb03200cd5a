import Foundation

/// The readers take a path (they memory-map it), so each input is written to one file in /dev/shm first.
func withInputFile(_ data: UnsafePointer<UInt8>, _ size: Int, _ body: (String) -> Void) -> CInt {
    let path = "/dev/shm/panda-fuzz-\(getpid())"
    _ = FileManager.default.createFile(atPath: path, contents: Data(bytes: data, count: size))
    body(path)
    return 0
}
