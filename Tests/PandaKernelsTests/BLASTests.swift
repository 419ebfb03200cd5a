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
}
