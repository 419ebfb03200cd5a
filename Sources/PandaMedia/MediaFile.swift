import Foundation

public enum MediaFile {
    /// Checks, without opening it, that the path names a regular file (following symbolic links) that is not empty.
    /// Opening a FIFO for reading blocks until a writer appears, and a device or socket is no media file: every
    /// reader calls this first, so no file can make a job wait forever.
    public static func check(_ path: String) throws {
        var status = stat()
        guard stat(path, &status) == 0 else {
            if errno == ENOENT || errno == ENOTDIR { throw MediaError.fileNotFound(path: path) }
            throw MediaError.unreadable(path: path, reason: String(cString: strerror(errno)))
        }
        if let kind = kind(of: status) { throw MediaError.unreadable(path: path, reason: "is \(kind), not a regular file") }
        guard status.st_size > 0 else { throw MediaError.unreadable(path: path, reason: "the file is empty") }
    }

    /// What the path is when it is not a regular file ("a folder", "a FIFO (named pipe)", …), following symbolic
    /// links; nil for a regular file or a path that does not exist.
    public static func nonRegularKind(_ path: String) -> String? {
        var status = stat()
        guard stat(path, &status) == 0 else { return nil }
        return kind(of: status)
    }

    private static func kind(of status: stat) -> String? {
        switch status.st_mode & S_IFMT {
        case S_IFREG: nil
        case S_IFDIR: "a folder"
        case S_IFIFO: "a FIFO (named pipe)"
        case S_IFSOCK: "a socket"
        case S_IFCHR, S_IFBLK: "a device"
        default: "a special file"
        }
    }

    /// The file's bytes, or an error naming it: missing, not a regular file, unreadable or empty.
    static func read(_ path: String) throws -> Data {
        try check(path)
        guard let data = FileManager.default.contents(atPath: path) else { throw MediaError.unreadable(path: path, reason: "cannot read the file") }
        guard !data.isEmpty else { throw MediaError.unreadable(path: path, reason: "the file is empty") }
        return data
    }

    /// A PNG's width and height from its IHDR chunk (bytes 16-23, big-endian), or nil for any other file.
    static func pngSize(_ path: String) -> (width: Int, height: Int)? {
        guard let handle = FileHandle(forReadingAtPath: path), let header = try? handle.read(upToCount: 24) else { return nil }
        try? handle.close()
        let bytes = [UInt8](header)
        guard bytes.count == 24, bytes.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) else { return nil }
        func word(_ at: Int) -> Int { bytes[at..<at + 4].reduce(0) { $0 << 8 | Int($1) } }
        return (word(16), word(20))
    }

    /// Whether the file begins with `magic`, reading only those bytes.
    static func starts(_ path: String, with magic: [UInt8]) throws -> Bool {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw MediaError.unreadable(path: path, reason: "cannot read the file") }
        defer { try? handle.close() }
        return (try handle.read(upToCount: magic.count)).map { Array($0) == magic } ?? false
    }
}
