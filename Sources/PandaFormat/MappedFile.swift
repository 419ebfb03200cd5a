import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A whole file mapped read-only into memory; unmapped when released.
public final class MappedFile: @unchecked Sendable {
    // @unchecked: immutable after init; the mapping is read-only.
    public let path: String
    public let bytes: UnsafeRawBufferPointer

    /// Maps `path`; an empty file maps to an empty buffer.
    public init(path: String) throws(FormatError) {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .cannotOpen(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var status = stat()
        guard fstat(fd, &status) == 0 else { throw .cannotOpen(path: path, reason: String(cString: strerror(errno))) }
        guard (status.st_mode & S_IFMT) == S_IFREG else { throw .cannotOpen(path: path, reason: "not a regular file") }
        let size = Int(status.st_size)
        guard size > 0 else {
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        guard let address = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), address != MAP_FAILED else {
            throw .cannotOpen(path: path, reason: "mmap failed: \(String(cString: strerror(errno)))")
        }
        bytes = UnsafeRawBufferPointer(start: address, count: size)
    }

    deinit {
        if let base = bytes.baseAddress { munmap(UnsafeMutableRawPointer(mutating: base), bytes.count) }
    }

    public var count: Int { bytes.count }

    /// Tells the kernel the given range will be read once, front to back (a hint; failures are ignored).
    public func adviseSequential(_ range: Range<Int>? = nil) {
        guard let base = bytes.baseAddress else { return }
        let range = range ?? 0..<bytes.count
        let pageStart = range.lowerBound / 4096 * 4096
        _ = madvise(UnsafeMutableRawPointer(mutating: base + pageStart), range.upperBound - pageStart, MADV_SEQUENTIAL)
    }

    /// Drops the given range's pages from this process's resident set once they have been read. They stay in
    /// the page cache and fault back in if touched again, so this only keeps a pass over a file larger than
    /// memory from being charged to the process as if it had loaded the whole file.
    public func release(_ range: Range<Int>) {
        guard let base = bytes.baseAddress, !range.isEmpty else { return }
        let pageStart = range.lowerBound / 4096 * 4096
        let pageEnd = min(bytes.count, (range.upperBound + 4095) / 4096 * 4096)
        _ = madvise(UnsafeMutableRawPointer(mutating: base + pageStart), pageEnd - pageStart, MADV_DONTNEED)
    }
}
