import CPandaKernels

/// The kernels' code paths, lowest first (panda_kernels.h says what each runs). The best one the CPU supports is
/// chosen at first use; `PANDA_KERNELS=<rawValue>` in the environment asks for a lower one, and a request this CPU
/// cannot meet falls back to the best supported path below it with a warning on stderr.
public enum KernelPath: Int, CaseIterable, Sendable, CustomStringConvertible {
    case portable, avx2, avxvnni, avx512, avx512vnni

    public var description: String { String(cString: panda_kernel_path_name(Int32(rawValue))) }

    /// The path `PANDA_KERNELS` spells `name`.
    public init?(name: String) {
        let path = panda_kernel_path_named(name)
        guard path >= 0 else { return nil }
        self.init(rawValue: Int(path))
    }

    /// Whether this CPU and its operating system support the path.
    public var isSupported: Bool { panda_kernel_path_supported(Int32(rawValue)) != 0 }

    /// The paths this machine can run, lowest first (the portable one always).
    public static var supported: [KernelPath] { allCases.filter(\.isSupported) }

    /// The path the kernels use now.
    public static var current: KernelPath { KernelPath(rawValue: Int(panda_kernel_path()))! }

    /// Switches every kernel to `path`, for tests and benchmarks; not while kernels run.
    public static func select(_ path: KernelPath) {
        precondition(path.isSupported, "the CPU lacks the \(path) kernel path")
        panda_kernel_select_path(Int32(path.rawValue))
    }

    /// What a `PANDA_KERNELS` value selects on this CPU, and the warning it gives (nil when the request is met).
    public static func forRequest(_ request: String?) -> (path: KernelPath, warning: String?) {
        var message = [CChar](repeating: 0, count: 200)
        let path = panda_kernel_path_for_request(request, &message, message.count)
        let warning = String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return (KernelPath(rawValue: Int(path))!, warning.isEmpty ? nil : warning)
    }

    /// The CPU features the paths depend on, each with whether this machine has it.
    public static var cpuFeatures: [(name: String, present: Bool)] {
        (0..<Int32(PANDA_CPU_FEATURE_COUNT)).map { (String(cString: panda_cpu_feature_name($0)), panda_cpu_has_feature($0) != 0) }
    }

    /// One line for `--version`-style printouts: the features found, the supported paths and the one in use, and
    /// on the avx512vnni path how bf16 weights multiply prompts.
    public static var summary: String {
        let found = cpuFeatures.filter(\.present).map(\.name)
        let bf16 = current == .avx512vnni ? "; bf16 matrix products: \(BF16Products.current)" : ""
        return "kernels: \(current) (supported: \(supported.map(\.description).joined(separator: ", "))\(bf16)); CPU features: "
            + (found.isEmpty ? "none of \(cpuFeatures.map(\.name).joined(separator: " "))" : found.joined(separator: " "))
    }
}

/// How bf16 weights multiply several activation rows on the avx512vnni path (panda_kernels.h says why either):
/// `dot` through vdpbf16ps with the activations rounded to bf16, `widened` to f32 for OpenBLAS's sgemm. Chosen
/// once per process from `PANDA_BF16_PRODUCTS` or the CPU's maker.
public enum BF16Products: Int, CaseIterable, Sendable, CustomStringConvertible {
    case widened, dot

    public var description: String {
        switch self {
        case .widened: "widened (f32 sgemm)"
        case .dot: "dot (vdpbf16ps)"
        }
    }

    public static var current: BF16Products { BF16Products(rawValue: Int(panda_bf16_products()))! }

    /// Switches the choice, for tests and benchmarks; not while kernels run.
    public static func select(_ products: BF16Products) { panda_select_bf16_products(Int32(products.rawValue)) }
}
