import CDNNL

/// oneDNN (libdnnl), the library behind PyTorch's CPU bf16 and int8 matmuls: reached here for GEMMs in precisions
/// OpenBLAS lacks (Debian's OpenBLAS 0.3.21 has no bf16 GEMM).
public enum OneDNN {
    /// The linked library's version as "major.minor.patch", so a report can say which oneDNN produced a figure.
    public static var version: String {
        let v = dnnl_version()!.pointee
        return "\(v.major).\(v.minor).\(v.patch)"
    }
}
