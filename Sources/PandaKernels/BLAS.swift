import COpenBLAS

/// Row-major single-precision matrix products through OpenBLAS.
///
/// Matrices are passed as flat row-major buffers; `transposeB` lets callers multiply by a weight stored
/// as `[out, in]` (PyTorch's `nn.Linear` layout) without copying it.
public enum BLAS {
    /// C[m×n] = alpha · A[m×k] · op(B) + beta · C, where op(B) is B[k×n], or Bᵀ when B is stored as [n×k].
    public static func sgemm(
        m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int? = nil,
        b: UnsafePointer<Float>, ldb: Int? = nil, transposeB: Bool = false,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int? = nil
    ) {
        precondition(m > 0 && n > 0 && k > 0, "sgemm needs positive dimensions, got m=\(m) n=\(n) k=\(k)")
        cblas_sgemm(
            CblasRowMajor, CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
            blasint(m), blasint(n), blasint(k),
            alpha, a, blasint(lda ?? k),
            b, blasint(ldb ?? (transposeB ? k : n)),
            beta, c, blasint(ldc ?? n))
    }

    /// The number of threads OpenBLAS uses for one call.
    public static var threadCount: Int {
        get { Int(openblas_get_num_threads()) }
        set { openblas_set_num_threads(Int32(newValue)) }
    }
}
