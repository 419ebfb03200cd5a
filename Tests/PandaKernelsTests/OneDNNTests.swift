import Testing
@testable import PandaKernels

@Test func linkedOneDNNIsAtLeastDebianBookwormsVersion() {
    let parts = OneDNN.version.split(separator: ".").compactMap { Int($0) }
    #expect(parts.count == 3)
    #expect(parts.lexicographicallyPrecedes([2, 6, 3]) == false, "oneDNN \(OneDNN.version) is older than 2.6.3")
}
