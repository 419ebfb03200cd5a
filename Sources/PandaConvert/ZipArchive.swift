// Hand-written because Panda must map stored entries in place (torch writes tensor data uncompressed and
// 64-byte aligned for exactly that), and ZIPFoundation only extracts entries by copying them.
import PandaFormat

/// The central directory of a zip archive, with in-place access to entries stored without compression.
struct ZipArchive {
    struct Entry {
        var name: String
        var compressionMethod: UInt16
        var compressedSize: Int
        var uncompressedSize: Int
        var localHeaderOffset: Int
    }

    let file: MappedFile
    let entries: [String: Entry]
    let order: [String]

    /// True when the file starts with a zip local-file signature.
    static func looksLikeZip(_ file: MappedFile) -> Bool {
        file.count >= 4 && file.bytes.loadUnaligned(as: UInt32.self) == UInt32(0x0403_4B50).littleEndian
    }

    init(_ file: MappedFile) throws(ConvertError) {
        self.file = file
        let bytes = file.bytes
        let path = file.path
        func fail(_ reason: String) -> ConvertError { .unreadableCheckpoint(path: path, reason: reason) }
        func u16(_ at: Int) -> Int { Int(UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: at, as: UInt16.self))) }
        func u32(_ at: Int) -> Int { Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: at, as: UInt32.self))) }
        func u64(_ at: Int) -> Int { Int(clamping: UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: at, as: UInt64.self))) }

        // The end-of-central-directory record sits in the last 22 + 65535 bytes.
        guard bytes.count >= 22 else { throw fail("truncated zip archive (\(bytes.count) bytes)") }
        var eocd = -1
        var position = bytes.count - 22
        let lowest = max(0, bytes.count - 22 - 65_535)
        while position >= lowest {
            if u32(position) == 0x0605_4B50 {
                eocd = position
                break
            }
            position -= 1
        }
        guard eocd >= 0 else { throw fail("truncated zip archive: its central directory is missing (was the download cut short?)") }
        var entryCount = u16(eocd + 10)
        var directorySize = u32(eocd + 12)
        var directoryOffset = u32(eocd + 16)
        if eocd >= 20, u32(eocd - 20) == 0x0706_4B50 {
            let record = u64(eocd - 20 + 8)
            guard record >= 0, record <= bytes.count - 56, u32(record) == 0x0606_4B50 else {
                throw fail("corrupt zip64 end-of-central-directory record")
            }
            entryCount = u64(record + 32)
            directorySize = u64(record + 40)
            directoryOffset = u64(record + 48)
        }
        guard directoryOffset >= 0, directorySize >= 0, directoryOffset <= bytes.count - directorySize,
            entryCount <= directorySize / 46
        else { throw fail("truncated or corrupt zip archive: the central directory lies outside the file") }

        var entries: [String: Entry] = [:]
        var order: [String] = []
        var cursor = directoryOffset
        let end = directoryOffset + directorySize
        for _ in 0..<entryCount {
            guard cursor + 46 <= end, u32(cursor) == 0x0201_4B50 else { throw fail("corrupt zip central directory") }
            let method = UInt16(u16(cursor + 10))
            var compressed = u32(cursor + 20)
            var uncompressed = u32(cursor + 24)
            let nameLength = u16(cursor + 28)
            let extraLength = u16(cursor + 30)
            let commentLength = u16(cursor + 32)
            var localOffset = u32(cursor + 42)
            guard cursor + 46 + nameLength + extraLength + commentLength <= end else { throw fail("corrupt zip central directory") }
            let name = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[(cursor + 46)..<(cursor + 46 + nameLength)]), as: UTF8.self)
            // Zip64 extra field: the 64-bit values of whichever 32-bit fields are saturated, in this order.
            var extra = cursor + 46 + nameLength
            let extraEnd = extra + extraLength
            while extra + 4 <= extraEnd {
                let id = u16(extra)
                let size = u16(extra + 2)
                guard extra + 4 + size <= extraEnd else { break }
                if id == 0x0001 {
                    var field = extra + 4
                    if uncompressed == 0xFFFF_FFFF, field + 8 <= extra + 4 + size { uncompressed = u64(field); field += 8 }
                    if compressed == 0xFFFF_FFFF, field + 8 <= extra + 4 + size { compressed = u64(field); field += 8 }
                    if localOffset == 0xFFFF_FFFF, field + 8 <= extra + 4 + size { localOffset = u64(field) }
                }
                extra += 4 + size
            }
            entries[name] = Entry(
                name: name, compressionMethod: method, compressedSize: compressed, uncompressedSize: uncompressed,
                localHeaderOffset: localOffset)
            order.append(name)
            cursor += 46 + nameLength + extraLength + commentLength
        }
        self.entries = entries
        self.order = order
    }

    /// Byte offset of an entry's data within the file, after checking that it is stored uncompressed and in bounds.
    func dataOffset(of entry: Entry) throws(ConvertError) -> Int {
        let bytes = file.bytes
        func fail(_ reason: String) -> ConvertError { .unreadableCheckpoint(path: file.path, reason: "zip entry '\(entry.name)': \(reason)") }
        guard entry.compressionMethod == 0 else { throw fail("is compressed (method \(entry.compressionMethod)); torch.save never compresses entries") }
        let header = entry.localHeaderOffset
        guard header >= 0, header <= bytes.count - 30,
            UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: header, as: UInt32.self)) == 0x0403_4B50
        else { throw fail("its local header is missing or damaged") }
        let nameLength = Int(UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: header + 26, as: UInt16.self)))
        let extraLength = Int(UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: header + 28, as: UInt16.self)))
        let start = header + 30 + nameLength + extraLength
        guard entry.uncompressedSize >= 0, start <= bytes.count, entry.uncompressedSize <= bytes.count - start else {
            throw fail("its \(entry.uncompressedSize) bytes run past the end of the file (truncated?)")
        }
        return start
    }

    func contents(of entry: Entry) throws(ConvertError) -> UnsafeRawBufferPointer {
        let start = try dataOffset(of: entry)
        return UnsafeRawBufferPointer(rebasing: file.bytes[start..<(start + entry.uncompressedSize)])
    }
}
