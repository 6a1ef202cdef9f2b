#if canImport(Glibc)
import Glibc
#endif
import Foundation
import TestSupport
import XCTest

/// A test bed of network-namespace nodes could not be used (not root, no namespaces, `up` failed).
struct ClusterUnavailable: Error, CustomStringConvertible {
    var description: String
}

/// What every test on namespace nodes needs (ClusterTests, ScalingBenchTests, SlurmNodeTests): root and network
/// namespaces. Skips with MULTIMIX_SKIP_CLUSTER_TESTS=1; elsewhere it fails saying what is missing.
func requireClusterTestBed() throws {
    if ProcessInfo.processInfo.environment["MULTIMIX_SKIP_CLUSTER_TESTS"] == "1" {
        throw XCTSkip("MULTIMIX_SKIP_CLUSTER_TESTS=1")
    }
    guard getuid() == 0 else {
        throw ClusterUnavailable(description: "the cluster tests need root (network namespaces, mounts): run as root, or set MULTIMIX_SKIP_CLUSTER_TESTS=1 to skip them")
    }
    let probe = try MPIRun.launch(["ip", "netns", "list"], timeout: 10)
    guard probe.status == 0 else {
        throw ClusterUnavailable(description: "`ip netns list` failed (status \(probe.status)): network namespaces are needed; set MULTIMIX_SKIP_CLUSTER_TESTS=1 to skip these tests\n\(probe.output)")
    }
}
