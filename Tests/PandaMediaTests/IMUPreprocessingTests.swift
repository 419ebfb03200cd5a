import Foundation
import PandaTestSupport
import Testing
@testable import PandaMedia

/// Reference values from numpy 2.4 on the same files (imu.npy, imu-short.npy = imu.npy[:, :1500], imu.csv = imu.npy.T
/// written with "%.6f" under a header line; Converters/reference/make_media.py).
@Suite("IMU input: [6, 2000] from .npy or CSV")
struct IMUPreprocessingTests {
    private func mediaError(_ body: () throws -> Void) -> MediaError? {
        do { try body() } catch let error as MediaError { return error } catch { Issue.record("not a MediaError: \(error)") }
        return nil
    }

    @Test("a [6, 2000] .npy is taken as is, channel-major")
    func fullLength() throws {
        let output = try IMUPreprocessing.tensor(path: fixture("media/imu.npy"))
        #expect(output.shape == [6, 2000])
        let tensor = output.values
        #expect(tensor == (try NPYArray(path: fixture("media/imu.npy")).values))
        #expect(tensor[1 * 2000 + 7] == 1.170644998550415 && tensor.last == 0.17091529071331024)
    }

    @Test("a [6, 1500] .npy is zero-padded at the end of every channel")
    func shortIsPadded() throws {
        let output = try IMUPreprocessing.tensor(path: fixture("media/imu-short.npy"))
        let full = try NPYArray(path: fixture("media/imu.npy")).values
        #expect(output.shape == [6, 2000])
        let tensor = output.values
        for channel in 0..<6 {
            #expect(Array(tensor[(channel * 2000)..<(channel * 2000 + 1500)]) == Array(full[(channel * 2000)..<(channel * 2000 + 1500)]))
            #expect(tensor[(channel * 2000 + 1500)..<((channel + 1) * 2000)].allSatisfy { $0 == 0 })
        }
        // numpy: s[2, 1499] = -0.4177936, s[5, 0] = 0.18531337, float64 sum 680.3483545391209.
        #expect(tensor[2 * 2000 + 1499] == -0.4177936 && tensor[5 * 2000] == 0.18531337)
        #expect(abs(tensor.reduce(0.0) { $0 + Double($1) } - 680.3483545391209) < 1e-9)
    }

    @Test("imu.csv (header + 2000 rows of 6) transposes to [6, 2000] within numpy's measured 9.54e-7 of imu.npy")
    func csvMatchesNPY() throws {
        let csv = try IMUPreprocessing.tensor(path: fixture("media/imu.csv")).values
        let npy = try IMUPreprocessing.tensor(path: fixture("media/imu.npy")).values
        // np.abs(np.loadtxt("imu.csv", delimiter=",", skiprows=1, dtype=np.float32).T - imu).max() == 9.536743e-07.
        #expect(maxAbsoluteDifference(csv, npy) <= 9.5367431640625e-07)
        #expect(csv[0] == -0.052381 && csv[2000] == 0.632531 && csv[5 * 2000 + 1999] == 0.170915)
    }

    @Test("a CSV without a header, with blank lines, reads the same way; 2 rows are padded to 2000")
    func headerlessCSV() throws {
        let directory = TemporaryDirectory()
        let path = directory.file("two-rows.txt")
        try "1,2,3,4,5,6\n\n7, 8, 9, 10, 11, 12\n".write(toFile: path, atomically: true, encoding: .utf8)
        let output = try IMUPreprocessing.tensor(path: path)
        #expect(output.shape == [6, 2000])
        let tensor = output.values
        let first: [Float] = (0..<6).map { tensor[$0 * 2000] }, second: [Float] = (0..<6).map { tensor[$0 * 2000 + 1] }
        #expect(first == [1, 2, 3, 4, 5, 6])
        #expect(second == [7, 8, 9, 10, 11, 12])
        #expect(tensor.reduce(0, +) == 78)
    }

    @Test("wrong shapes, too many samples and bad numbers are errors naming the file, what was found and what was expected")
    func refused() throws {
        let depth = fixture("media/depth.npy")
        #expect(mediaError { _ = try IMUPreprocessing.tensor(path: depth) } == .unsupported(
            path: depth, reason: "IMU array has shape [120, 160], expected [6, N] (accelerometer xyz, gyroscope xyz by samples)"))
        let directory = TemporaryDirectory()
        let transposed = directory.file("transposed.npy")
        try NPYArray(shape: [10, 6], values: [Float](repeating: 1, count: 60)).write(to: transposed)
        #expect(mediaError { _ = try IMUPreprocessing.tensor(path: transposed) } == .unsupported(
            path: transposed, reason: "IMU array has shape [10, 6], expected [6, N] (accelerometer xyz, gyroscope xyz by samples) (transpose it to [6, N])"))
        let long = directory.file("long.npy")
        try NPYArray(shape: [6, 2001], values: [Float](repeating: 1, count: 6 * 2001)).write(to: long)
        #expect(mediaError { _ = try IMUPreprocessing.tensor(path: long) } == .unsupported(
            path: long, reason: "the IMU recording has 2001 samples, more than ImageBind's 2000: cut it to 2000 samples"))
        let empty = directory.file("empty.npy")
        try NPYArray(shape: [6, 0], values: []).write(to: empty)
        #expect(mediaError { _ = try IMUPreprocessing.tensor(path: empty) } == .unreadable(path: empty, reason: "the IMU recording holds no samples"))
        let three = directory.file("three.csv")
        try "ax,ay,az\n1,2,3\n".write(toFile: three, atomically: true, encoding: .utf8)
        #expect(mediaError { _ = try IMUPreprocessing.tensor(path: three) } == .unsupported(
            path: three, reason: "line 2 has 3 columns, expected 6 (ax, ay, az, gx, gy, gz): CSV of shape [N, 6]"))
        let bad = directory.file("bad.csv")
        try "1,2,3,4,5,6\n1,2,x,4,5,6\n".write(toFile: bad, atomically: true, encoding: .utf8)
        #expect(mediaError { _ = try IMUPreprocessing.tensor(path: bad) } == .unreadable(path: bad, reason: "line 2, column 3: 'x' is not a number"))
        #expect(mediaError { _ = try IMUPreprocessing.tensor(path: "/nonexistent/imu.npy") } == .fileNotFound(path: "/nonexistent/imu.npy"))
    }
}
