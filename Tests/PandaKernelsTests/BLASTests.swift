import Testing
@testable import PandaKernels

@Suite("OpenBLAS through PandaKernels")
struct BLASTests {
    @Test("sgemm multiplies a 2×3 by a 3×2 matrix as worked out by hand")
    func sgemmMatchesHandComputation() {
        let a: [Float] = [1, 2, 3,
                          4, 5, 6]
        let b: [Float] = [7, 8,
                          9, 10,
                          11, 12]
        var c = [Float](repeating: -1, count: 4)
        BLAS.sgemm(m: 2, n: 2, k: 3, a: a, b: b, c: &c)
        // [1·7+2·9+3·11, 1·8+2·10+3·12; 4·7+5·9+6·11, 4·8+5·10+6·12]
        #expect(c == [58, 64, 139, 154])
    }

    @Test("sgemm with transposeB reads a weight stored as [out, in] like nn.Linear")
    func sgemmWithTransposedWeight() {
        let x: [Float] = [1, 2, 3]              // one row, in = 3
        let weight: [Float] = [1, 0, -1,        // out = 2 rows of length in
                               2, 2, 2]
        var y = [Float](repeating: 0, count: 2)
        BLAS.sgemm(m: 1, n: 2, k: 3, a: x, b: weight, transposeB: true, c: &y)
        #expect(y == [-2, 12])  // [1 − 3, 2 + 4 + 6]
    }

    @Test("sgemm accumulates into C when beta is 1")
    func sgemmAccumulates() {
        let a: [Float] = [2]
        let b: [Float] = [3]
        var c: [Float] = [10]
        BLAS.sgemm(m: 1, n: 1, k: 1, a: a, b: b, beta: 1, c: &c)
        #expect(c == [16])
    }

    @Test("a pool's forEach runs every index once, on slots below its thread count, with OpenBLAS single-threaded inside (each product as on the calling thread) and its thread count restored after")
    func forEachRunsIndicesWithSingleThreadedBLAS() {
        let pool = ThreadPool(threads: 2)
        let savedThreads = BLAS.threadCount
        BLAS.threadCount = 2
        defer { BLAS.threadCount = savedThreads }
        let count = 24, n = 48
        let inputs: [[Float]] = (0..<count).map { index in
            (0..<(n * n)).map { (element: Int) -> Float in Float((element * 7 + index * 13) % 29) / 29 - 0.5 }
        }
        let expected = inputs.map { a in
            var c = [Float](repeating: 0, count: n * n)
            BLAS.sgemm(m: n, n: n, k: n, a: a, b: a, transposeB: true, c: &c)
            return c
        }
        let results = UnsafeMutablePointer<Float>.allocate(capacity: count * n * n)
        let calls = UnsafeMutablePointer<Int>.allocate(capacity: count), slots = UnsafeMutablePointer<Int>.allocate(capacity: count)
        let blasThreadsInside = UnsafeMutablePointer<Int>.allocate(capacity: count)
        calls.initialize(repeating: 0, count: count)
        defer { results.deallocate(); calls.deallocate(); slots.deallocate(); blasThreadsInside.deallocate() }
        pool.forEach(count) { index, slot in
            calls[index] += 1
            slots[index] = slot
            blasThreadsInside[index] = BLAS.threadCount
            inputs[index].withUnsafeBufferPointer { a in
                BLAS.sgemm(m: n, n: n, k: n, a: a.baseAddress!, b: a.baseAddress!, transposeB: true, c: results + index * n * n)
            }
        }
        #expect((0..<count).allSatisfy { calls[$0] == 1 })
        #expect((0..<count).allSatisfy { slots[$0] >= 0 && slots[$0] < pool.threads })
        #expect((0..<count).allSatisfy { blasThreadsInside[$0] == 1 })
        #expect(BLAS.threadCount == 2)
        for index in 0..<count {
            #expect(Array(UnsafeBufferPointer(start: results + index * n * n, count: n * n)) == expected[index])
        }
    }
}
