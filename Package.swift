// swift-tools-version: 6.1
import PackageDescription

// Each C library is reached through one `C<Name>` system-library target and wrapped by exactly one Swift module:
// COpenBLAS and CDNNL → PandaKernels, CZstd → PandaFormat, CJPEG/CSndfile/CFFmpeg → PandaMedia.
let package = Package(
    name: "Panda",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "panda-convert", targets: ["panda-convert"]),
        .executable(name: "panda-run", targets: ["panda-run"]),
        .library(name: "PandaFormat", targets: ["PandaFormat"]),
        .library(name: "PandaKernels", targets: ["PandaKernels"]),
        .library(name: "PandaMedia", targets: ["PandaMedia"]),
        .library(name: "PandaModels", targets: ["PandaModels"]),
        .library(name: "PandaInputs", targets: ["PandaInputs"]),
        .library(name: "PandaJobs", targets: ["PandaJobs"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    ],
    targets: [
        // System libraries (Debian packages installed by .ci/run).
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        // Debian's libdnnl-dev (oneDNN 2.6.3) ships no pkg-config file, so the module map links "dnnl" by name.
        .systemLibrary(name: "CDNNL", providers: [.apt(["libdnnl-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CJPEG", pkgConfig: "libjpeg", providers: [.apt(["libjpeg-dev"])]),
        .systemLibrary(name: "CSndfile", pkgConfig: "sndfile", providers: [.apt(["libsndfile1-dev"])]),
        .systemLibrary(
            name: "CFFmpeg", pkgConfig: "libavformat",
            providers: [.apt(["libavformat-dev", "libavcodec-dev", "libavutil-dev", "libswscale-dev", "libswresample-dev"])]),

        // Libraries.
        .target(name: "PandaFormat", dependencies: ["CZstd", "CPandaKernels", .product(name: "Logging", package: "swift-log")]),
        // Hand-written SIMD kernels with run-time CPU dispatch; optimized even in debug builds so tests stay fast.
        // Links glibc's vector math library (libmvec) for erf and exp.
        .target(name: "CPandaKernels", cSettings: [.unsafeFlags(["-O2"])], linkerSettings: [.linkedLibrary("mvec", .when(platforms: [.linux]))]),
        .target(name: "PandaKernels", dependencies: ["COpenBLAS", "CDNNL", "CPandaKernels", "PandaFormat"]),
        .target(name: "PandaMedia", dependencies: ["PandaFormat", "CJPEG", "CSndfile", "CFFmpeg"]),
        .target(
            name: "PandaModels",
            dependencies: [
                "PandaFormat", "PandaKernels", "CZlib", .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "HeapModule", package: "swift-collections"),
            ],
            exclude: ["Generated/sentencepiece_model.proto", "Generated/README.md"]),
        // Media files (and texts) to ImageBind's inputs and embeddings: what the command lines and jobs share.
        .target(name: "PandaInputs", dependencies: ["PandaModels", "PandaMedia"]),
        // Jobs: the YAML job language and its runner.
        .target(
            name: "PandaJobs",
            dependencies: [
                "PandaInputs", "PandaModels", "PandaKernels", "PandaMedia", .product(name: "Yams", package: "Yams"), .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .target(
            name: "PandaConvert",
            dependencies: ["PandaFormat", "PandaKernels", .product(name: "Crypto", package: "swift-crypto")]),
        // The conversion recipes: one declarative file per checkpoint family, in the top-level Converters/ folder.
        .target(name: "PandaRecipes", dependencies: ["PandaConvert"], path: "Converters", exclude: ["reference"]),

        // Executables: thin command-line layers over the libraries.
        .executableTarget(
            name: "panda-convert",
            dependencies: [
                "PandaFormat", "PandaConvert", "PandaRecipes", .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .executableTarget(
            name: "panda-run",
            dependencies: ["PandaFormat", "PandaKernels", "PandaModels", "PandaInputs", "PandaJobs", "PandaMedia", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        .executableTarget(
            name: "panda-bench",
            dependencies: ["PandaFormat", "PandaModels", "PandaJobs", "PandaMedia", "PandaKernels", "CPeak", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        // Instruction issue-rate loops, for panda-bench's peak figures only.
        .target(name: "CPeak", cSettings: [.unsafeFlags(["-O2"])]),

        // Tests.
        .target(name: "PandaTestSupport", dependencies: ["PandaFormat", "PandaConvert", "PandaRecipes"], path: "Tests/PandaTestSupport"),
        .testTarget(name: "PandaFormatTests", dependencies: ["PandaFormat", "PandaTestSupport"]),
        .testTarget(name: "PandaKernelsTests", dependencies: ["PandaKernels", "PandaFormat"]),
        .testTarget(
            name: "PandaConvertTests",
            dependencies: ["PandaConvert", "PandaFormat", "PandaRecipes", "PandaTestSupport", .product(name: "Crypto", package: "swift-crypto")]),
        .testTarget(name: "PandaModelsTests", dependencies: ["PandaModels", "PandaKernels", "PandaFormat", "PandaTestSupport"]),
        .testTarget(name: "PandaMediaTests", dependencies: ["PandaMedia", "PandaTestSupport"]),
        .testTarget(name: "PandaJobsTests", dependencies: ["PandaJobs", "PandaInputs", "PandaModels", "PandaMedia", "PandaFormat", "PandaTestSupport"]),
        .testTarget(
            name: "PandaCLITests", dependencies: ["PandaFormat", "PandaModels", "PandaMedia", "PandaTestSupport", "panda-convert", "panda-run"]),
    ],
    swiftLanguageModes: [.v6]
)
