// Hand-written because none of Panda's C libraries exports a fast non-cryptographic hash (zstd keeps its XXH64 internal).

/// XXH64 (seed 0 unless given), the checksum of every chunk and of the index in a `.panda` file.
public struct XXH64: Sendable {
    private static let p1: UInt64 = 0x9E37_79B1_85EB_CA87
    private static let p2: UInt64 = 0xC2B2_AE3D_27D4_EB4F
    private static let p3: UInt64 = 0x1656_67B1_9E37_79F9
    private static let p4: UInt64 = 0x85EB_CA77_C2B2_AE63
    private static let p5: UInt64 = 0x27D4_EB2F_1656_67C5

    private var v1: UInt64, v2: UInt64, v3: UInt64, v4: UInt64
    private let seed: UInt64
    private var totalLength: UInt64 = 0
    private var buffer: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
    private var bufferedCount = 0

    public init(seed: UInt64 = 0) {
        self.seed = seed
        v1 = seed &+ Self.p1 &+ Self.p2
        v2 = seed &+ Self.p2
        v3 = seed
        v4 = seed &- Self.p1
    }

    /// The hash of one contiguous buffer.
    public static func hash(_ bytes: UnsafeRawBufferPointer, seed: UInt64 = 0) -> UInt64 {
        var state = XXH64(seed: seed)
        state.update(bytes)
        return state.finalize()
    }

    @inline(__always) private static func round(_ acc: UInt64, _ input: UInt64) -> UInt64 {
        (acc &+ input &* p2).rotatedLeft(31) &* p1
    }

    @inline(__always) private static func merge(_ acc: UInt64, _ v: UInt64) -> UInt64 {
        (acc ^ round(0, v)) &* p1 &+ p4
    }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        var offset = 0
        let count = bytes.count
        totalLength &+= UInt64(count)

        if bufferedCount > 0 {
            let take = min(32 - bufferedCount, count)
            withUnsafeMutableBytes(of: &buffer) { stash in
                stash.baseAddress!.advanced(by: bufferedCount).copyMemory(from: base, byteCount: take)
            }
            bufferedCount += take
            offset = take
            guard bufferedCount == 32 else { return }
            v1 = Self.round(v1, UInt64(littleEndian: buffer.0))
            v2 = Self.round(v2, UInt64(littleEndian: buffer.1))
            v3 = Self.round(v3, UInt64(littleEndian: buffer.2))
            v4 = Self.round(v4, UInt64(littleEndian: buffer.3))
            bufferedCount = 0
        }
        while count - offset >= 32 {
            v1 = Self.round(v1, UInt64(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt64.self)))
            v2 = Self.round(v2, UInt64(littleEndian: base.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self)))
            v3 = Self.round(v3, UInt64(littleEndian: base.loadUnaligned(fromByteOffset: offset + 16, as: UInt64.self)))
            v4 = Self.round(v4, UInt64(littleEndian: base.loadUnaligned(fromByteOffset: offset + 24, as: UInt64.self)))
            offset += 32
        }
        if offset < count {
            withUnsafeMutableBytes(of: &buffer) { stash in
                stash.baseAddress!.copyMemory(from: base.advanced(by: offset), byteCount: count - offset)
            }
            bufferedCount = count - offset
        }
    }

    public func finalize() -> UInt64 {
        var h: UInt64
        if totalLength >= 32 {
            h = v1.rotatedLeft(1) &+ v2.rotatedLeft(7) &+ v3.rotatedLeft(12) &+ v4.rotatedLeft(18)
            h = Self.merge(h, v1)
            h = Self.merge(h, v2)
            h = Self.merge(h, v3)
            h = Self.merge(h, v4)
        } else {
            h = seed &+ Self.p5
        }
        h &+= totalLength
        var tail = buffer
        let remaining = bufferedCount
        withUnsafeBytes(of: &tail) { stash in
            var i = 0
            while i + 8 <= remaining {
                let k = Self.round(0, UInt64(littleEndian: stash.loadUnaligned(fromByteOffset: i, as: UInt64.self)))
                h = (h ^ k).rotatedLeft(27) &* Self.p1 &+ Self.p4
                i += 8
            }
            if i + 4 <= remaining {
                let k = UInt64(UInt32(littleEndian: stash.loadUnaligned(fromByteOffset: i, as: UInt32.self)))
                h = (h ^ (k &* Self.p1)).rotatedLeft(23) &* Self.p2 &+ Self.p3
                i += 4
            }
            while i < remaining {
                h = (h ^ (UInt64(stash[i]) &* Self.p5)).rotatedLeft(11) &* Self.p1
                i += 1
            }
        }
        h ^= h >> 33
        h &*= Self.p2
        h ^= h >> 29
        h &*= Self.p3
        h ^= h >> 32
        return h
    }
}

extension UInt64 {
    @inline(__always) fileprivate func rotatedLeft(_ n: UInt64) -> UInt64 { (self << n) | (self >> (64 - n)) }
}
