import Foundation
import PandaTestSupport
import Testing
@testable import PandaMedia

/// Reference values from numpy 2.4 (`np.load`) on the same files; the `npy/` fixtures were written by numpy itself
/// (Converters/reference/make_npy_cases.py): 2×3 arrays whose values are exact in their dtype.
@Suite("Reading and writing .npy arrays")
struct NPYArrayTests {
    private func mediaError(_ body: () throws -> Void) -> MediaError? {
        do { try body() } catch let error as MediaError { return error } catch { Issue.record("not a MediaError: \(error)") }
        return nil
    }

    @Test("imu.npy reads as float32 [6, 2000] with numpy's values")
    func imuMatchesNumpy() throws {
        let imu = try NPYArray(path: fixture("media/imu.npy"))
        #expect(imu.shape == [6, 2000] && imu.storedType == "<f4")
        // np.load("imu.npy"): flat[:3], [1, 7], [-1, -1] and the float64 sum.
        #expect(imu.values.prefix(3) == [-0.052381422370672226, 0.3084423542022705, 0.5697766542434692])
        #expect(imu.values[1 * 2000 + 7] == 1.170644998550415)
        #expect(imu.values.last == 0.17091529071331024)
        #expect(abs(imu.values.reduce(0.0) { $0 + Double($1) } - 1.5720333617573488) < 1e-9)
    }

    @Test("Every supported dtype and header version reads to numpy's values", arguments: [
        ("f4", [-1.5, 0, 2.25, 3, 0.125, 65504]),
        ("f8", [-1.5, 0, 2.25, 3, 0.125, 1e30]),
        ("f2", [-1.5, 0, 2.25, 3, 0.125, 65504]),
        ("i2", [-32768, -1, 0, 1, 2, 32767]),
        ("i4", [-2_147_483_648, -1, 0, 1, 2, 16_777_216]),
        ("i8", [-1_099_511_627_776, -1, 0, 1, 2, 1_099_511_627_776]),
        ("u1", [0, 1, 2, 127, 128, 255]),
        ("u2", [0, 1, 2, 32768, 40000, 65535]),
        ("b1", [1, 0, 1, 0, 0, 1]),
        ("f4-fortran", [-1.5, 0, 2.25, 3, 0.125, 65504]),  // stored column by column, read back in C order
        ("f4-v2", [-1.5, 0, 2.25, 3, 0.125, 65504]),
        ("f4-v3", [-1.5, 0, 2.25, 3, 0.125, 65504]),
    ] as [(String, [Float])])
    func dtypesMatchNumpy(name: String, values: [Float]) throws {
        let array = try NPYArray(path: fixture("media/npy/\(name).npy"))
        #expect(array.shape == [2, 3])
        #expect(array.values == values)
    }

    @Test("A 0-d array has shape [] and one value; an empty [0, 6] array has no values")
    func scalarAndEmpty() throws {
        let scalar = try NPYArray(path: fixture("media/npy/scalar.npy"))
        #expect(scalar.shape == [] && scalar.values == [7.5])
        let empty = try NPYArray(path: fixture("media/npy/empty.npy"))
        #expect(empty.shape == [0, 6] && empty.values.isEmpty)
    }

    @Test("Written arrays have np.save's exact bytes and read back unchanged")
    func writerMatchesNumpy() throws {
        let directory = TemporaryDirectory()
        let array = NPYArray(shape: [2, 3], values: [-1.5, 0, 2.25, 3, 0.125, 65504])
        #expect(array.encoded() == [UInt8](try Data(contentsOf: URL(fileURLWithPath: fixture("media/npy/f4.npy")))))
        let imu = try NPYArray(path: fixture("media/imu.npy"))
        try imu.write(to: directory.file("copy.npy"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: directory.file("copy.npy"))) == Data(contentsOf: URL(fileURLWithPath: fixture("media/imu.npy"))))
        let vector = NPYArray(shape: [4], values: [1, 2, 3, 4])
        #expect(try NPYArray(bytes: vector.encoded()) == vector)
    }

    @Test("Big-endian, structured, truncated and non-.npy files are refused with the reason and the file's name")
    func refused() throws {
        let bigEndian = fixture("media/npy/big-endian.npy")
        #expect(mediaError { _ = try NPYArray(path: bigEndian) } == .unsupported(
            path: bigEndian, reason: "dtype >f4 (expected one of <f4 <f8 <f2 <i2 <i4 <i8 |u1 <u2 |b1 |i1 <u4)"))
        let structured = try #require(mediaError { _ = try NPYArray(path: fixture("media/npy/structured.npy")) })
        #expect(structured.localizedDescription.contains("structured.npy") && structured.localizedDescription.contains("structured dtype"))
        let directory = TemporaryDirectory()
        let cut = directory.file("cut.npy")
        try Data(contentsOf: URL(fileURLWithPath: fixture("media/imu.npy"))).dropLast(3).write(to: URL(fileURLWithPath: cut))
        #expect(mediaError { _ = try NPYArray(path: cut) } == .unreadable(
            path: cut, reason: "shape [6, 2000] of <f4 needs 12000 × 4 bytes of data, the file has 47997"))
        let photo = fixture("media/photo.jpg")
        #expect(mediaError { _ = try NPYArray(path: photo) } == .unreadable(path: photo, reason: "not a .npy file (missing the \\x93NUMPY magic)"))
        #expect(mediaError { _ = try NPYArray(path: "/nonexistent/a.npy") } == .fileNotFound(path: "/nonexistent/a.npy"))
    }
}
