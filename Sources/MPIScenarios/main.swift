// mpi-scenarios: multi-rank checks of SwiftMPI, run by Tests/SwiftMPITests under `mpirun -np N`.
//
// Usage: mpirun -np N mpi-scenarios SCENARIO
// Each scenario checks its results on every rank and exits non-zero, naming the rank and what was
// wrong, at the first mismatch. Exit 0 means every rank passed.
import CMPI
import Distributed
import Foundation
import Layers
import Models
import SwiftMPI
import Tensors
#if canImport(Glibc)
import Glibc
#endif

let scenarios: [String: (Communicator) throws -> Void] = [
    "allreduce": allreduceScenario,
    "allreduce-chunked": allreduceChunkedScenario,
    "iallreduce": iallreduceScenario,
    "broadcast": broadcastScenario,
    "gather": gatherScenario,
    "split": splitScenario,
    "launch-environment": launchEnvironmentScenario,
    "errors": errorsScenario,
    "point-to-point": pointToPointScenario,
    "gradient-sync": gradientSyncScenario,
    "stall": stallScenario,
    "no-progress": noProgressScenario,
    "consistency": consistencyScenario,
    "gradient-equivalence": gradientEquivalenceScenario,
    "rank-dies": rankDiesScenario,
]

let arguments = CommandLine.arguments
guard arguments.count == 2, let scenario = scenarios[arguments[1]] else {
    let names = scenarios.keys.sorted().joined(separator: ", ")
    FileHandle.standardError.write(Data("usage: mpirun -np N mpi-scenarios SCENARIO   (one of: \(names))\n".utf8))
    exit(2)
}

do {
    // Calls before initialize must throw, not crash.
    do {
        _ = try Communicator.world
        fail("Communicator.world before MPI.initialize did not throw")
    } catch MPIError.notInitialized {}

    let granted = try MPI.initialize(threadLevel: .funneled)
    try expect(granted >= .funneled, "granted thread level \(granted) is below .funneled")
    let world = try Communicator.world
    try scenario(world)
    try world.barrier()
    if world.rank == 0 { print("\(arguments[1]): passed on \(world.size) ranks") }
    try MPI.finalize()
} catch {
    fail("\(error)")
}

// MARK: - Checks

func fail(_ message: String) -> Never {
    let rank = (try? Communicator.world.rank).map(String.init) ?? "?"
    FileHandle.standardError.write(Data("mpi-scenarios: rank \(rank): FAILED: \(message)\n".utf8))
    MPI.abort(code: 1)
}

struct CheckFailure: Error, CustomStringConvertible { var description: String }

func expect(_ condition: Bool, _ message: @autoclosure () -> String) throws {
    if !condition { throw CheckFailure(description: message()) }
}

func expectEqual<T: Equatable>(_ actual: [T], _ expected: [T], _ what: String) throws {
    guard actual == expected else {
        let index = zip(actual, expected).enumerated().first { $0.element.0 != $0.element.1 }?.offset
            ?? min(actual.count, expected.count)
        let got = index < actual.count ? "\(actual[index])" : "nothing"
        let want = index < expected.count ? "\(expected[index])" : "nothing"
        throw CheckFailure(description: "\(what): counts \(actual.count)/\(expected.count), first difference at \(index): got \(got), expected \(want)")
    }
}

// MARK: - Scenarios

/// Rank r contributes x_r[i] = (r + 1) * (i % 13 + 1) - 7r; sums, maxima and minima have closed forms.
func contribution(rank r: Int, index i: Int) -> Int { (r + 1) * (i % 13 + 1) - 7 * r }

func expectedReduction(_ op: ReductionOperation, size: Int, index i: Int) -> Int {
    let values = (0..<size).map { contribution(rank: $0, index: i) }
    switch op {
    case .sum: return values.reduce(0, +)
    case .max: return values.max()!
    case .min: return values.min()!
    }
}

func checkAllreduce<T: MPIScalar & Equatable>(_ world: Communicator, _ make: (Int) -> T, _ name: String) throws {
    for count in [0, 1, 7, 1 << 20] {
        for op in ReductionOperation.allCases {
            // UInt8 cannot hold the negative values or large sums: reduce small non-negative ones.
            let isByte = T.self == UInt8.self
            let value = { (r: Int, i: Int) -> Int in isByte ? (r + i) % 7 : contribution(rank: r, index: i) }
            let expected: [T] = (0..<count).map { i in
                let all = (0..<world.size).map { value($0, i) }
                switch op {
                case .sum: return make(all.reduce(0, +))
                case .max: return make(all.max()!)
                case .min: return make(all.min()!)
                }
            }
            var inPlace: [T] = (0..<count).map { make(value(world.rank, $0)) }
            try world.allreduce(&inPlace, op: op)
            try expectEqual(inPlace, expected, "\(name) allreduce \(op) in place, count \(count)")

            let send: [T] = (0..<count).map { make(value(world.rank, $0)) }
            var receive = [T](repeating: make(0), count: count)
            try send.withUnsafeBufferPointer { s in
                try receive.withUnsafeMutableBufferPointer { try world.allreduce(s, into: $0, op: op) }
            }
            try expectEqual(receive, expected, "\(name) allreduce \(op) out of place, count \(count)")
        }
    }
}

func allreduceScenario(_ world: Communicator) throws {
    try checkAllreduce(world, { Float($0) }, "Float")
    try checkAllreduce(world, { Double($0) }, "Double")
    try checkAllreduce(world, { Int32($0) }, "Int32")
    try checkAllreduce(world, { Int64($0) }, "Int64")
    try checkAllreduce(world, { UInt8($0) }, "UInt8")
}

/// The same results when every call is split into chunks of at most 1000 elements (the path taken
/// for buffers beyond MPI's Int32 count limit).
func allreduceChunkedScenario(_ world: Communicator) throws {
    MPI.maximumCountPerCall = 1000
    defer { MPI.maximumCountPerCall = Int(Int32.max) }
    try checkAllreduce(world, { Float($0) }, "Float (chunked)")
    var payload: [UInt8] = world.rank == 0 ? (0..<2500).map { UInt8($0 % 251) } : []
    try world.broadcast(&payload, root: 0)
    try expectEqual(payload, (0..<2500).map { UInt8($0 % 251) }, "chunked broadcast")
    // gather cannot be chunked without changing its layout: it must refuse with a clear error.
    do {
        _ = try world.gather([Float](repeating: 0, count: 1001), root: 0)
        throw CheckFailure(description: "gather of 1001 > 1000 elements did not throw countTooLarge")
    } catch MPIError.countTooLarge(_, let count, let limit) {
        try expect(count == 1001 && limit == 1000, "countTooLarge reported \(count)/\(limit)")
    }
}

/// A non-blocking allreduce completes while the caller computes, progressed by `test()`.
func iallreduceScenario(_ world: Communicator) throws {
    let count = 1 << 20
    let send = UnsafeMutableBufferPointer<Float>.allocate(capacity: count)
    let receive = UnsafeMutableBufferPointer<Float>.allocate(capacity: count)
    defer { send.deallocate(); receive.deallocate() }
    for i in 0..<count { send[i] = Float(contribution(rank: world.rank, index: i)) }
    receive.initialize(repeating: .nan)

    let request = try world.iallreduce(UnsafeBufferPointer(send), into: receive, op: .sum)
    // Compute between tests, as backward does between gradient buckets.
    var work: Double = 0
    var rounds = 0
    var completedByTest = false
    let deadline = MPI.wallTime + 20
    while MPI.wallTime < deadline {
        for i in 0..<20_000 { work += Double(i & 7) * 0.5 }
        rounds += 1
        if try request.test() { completedByTest = true; break }
    }
    try expect(completedByTest, "iallreduce did not complete under test() within 20 s")
    try expect(work > 0 && rounds >= 1, "no computation ran while the request was in flight")
    try request.wait()  // completed requests return at once
    for i in stride(from: 0, to: count, by: 4099) {
        try expect(receive[i] == Float(expectedReduction(.sum, size: world.size, index: i)),
                   "iallreduce out of place: element \(i) is \(receive[i])")
    }

    // In place, several requests at once, finished by waitAll.
    let requests = try (0..<3).map { part -> Request in
        let slice = UnsafeMutableBufferPointer(rebasing: send[(part * count / 3)..<((part + 1) * count / 3)])
        return try world.iallreduce(slice, op: .max)
    }
    try Request.waitAll(requests)
    try expect(requests.allSatisfy(\.isComplete), "waitAll left a request incomplete")
    for i in stride(from: 0, to: count, by: 4099) {
        try expect(send[i] == Float(expectedReduction(.max, size: world.size, index: i)),
                   "iallreduce in place (max): element \(i) is \(send[i])")
    }
}

/// A 10 MB byte payload from the last rank reaches every rank; other ranks start with nothing.
func broadcastScenario(_ world: Communicator) throws {
    let root = world.size - 1
    let length = 10_000_000
    let pattern = { (i: Int) -> UInt8 in UInt8(truncatingIfNeeded: i &* 31 &+ 7) }
    var payload: [UInt8] = world.rank == root ? (0..<length).map(pattern) : []
    try world.broadcast(&payload, root: root)
    try expect(payload.count == length, "broadcast payload has \(payload.count) bytes, expected \(length)")
    for i in stride(from: 0, to: length, by: 997) {
        try expect(payload[i] == pattern(i), "broadcast byte \(i) is \(payload[i])")
    }
    // Typed buffers of equal size, and an empty payload.
    var values: [Double] = world.rank == 0 ? [1.5, -2, 3e10] : [0, 0, 0]
    try values.withUnsafeMutableBufferPointer { try world.broadcast($0, root: 0) }
    try expectEqual(values, [1.5, -2, 3e10], "broadcast of Doubles")
    var empty: [Int32] = []
    try world.broadcast(&empty, root: 0)
    try expect(empty.isEmpty, "empty broadcast")
    do {
        try world.broadcast(&empty, root: world.size)
        throw CheckFailure(description: "broadcast from root \(world.size) did not throw")
    } catch MPIError.invalidArgument {}
}

/// Gather and allgather put every rank's block in rank order; unequal counts are one error everywhere.
func gatherScenario(_ world: Communicator) throws {
    let mine: [Int64] = (0..<3).map { Int64(world.rank * 10 + $0) }
    let expected: [Int64] = (0..<world.size).flatMap { r in (0..<3).map { Int64(r * 10 + $0) } }
    let root = world.size / 2
    let gathered = try world.gather(mine, root: root)
    if world.rank == root {
        try expectEqual(gathered ?? [], expected, "gather at root \(root)")
    } else {
        try expect(gathered == nil, "gather returned data on non-root rank")
    }
    try expectEqual(try world.allgather(mine), expected, "allgather")
    try expectEqual(try world.allgather([Float]()), [], "allgather of nothing")

    if world.size > 1 {
        do {
            _ = try world.allgather([Int32](repeating: 1, count: world.rank + 1))
            throw CheckFailure(description: "allgather with unequal counts did not throw")
        } catch MPIError.sizeMismatch(_, let detail) {
            try expect(detail.contains("between 1 and \(world.size)"), "unexpected detail: \(detail)")
        }
    }
}

/// split by parity, ordered by descending rank; a rank passing nil joins nothing; duplicate keeps ranks.
func splitScenario(_ world: Communicator) throws {
    let color = world.rank % 2
    guard let half = try world.split(color: color, key: -world.rank) else {
        throw CheckFailure(description: "split returned nil for colour \(color)")
    }
    let members = (0..<world.size).filter { $0 % 2 == color }
    try expect(half.size == members.count, "split size \(half.size), expected \(members.count)")
    let expectedRank = Array(members.reversed()).firstIndex(of: world.rank)!
    try expect(half.rank == expectedRank, "split rank \(half.rank), expected \(expectedRank)")
    var sum: [Int32] = [Int32(world.rank)]
    try half.allreduce(&sum, op: .sum)
    try expect(sum[0] == Int32(members.reduce(0, +)), "allreduce within split gave \(sum[0])")

    let lonely = try world.split(color: world.rank == 0 ? nil : 1)
    try expect((lonely == nil) == (world.rank == 0), "split with nil colour: rank 0 should get nil, others a group")
    if let lonely { try expect(lonely.size == world.size - 1, "group without rank 0 has size \(lonely.size)") }

    let copy = try world.duplicate()
    try expect(copy.rank == world.rank && copy.size == world.size, "duplicate changed rank or size")
    var one: [Int32] = [1]
    try copy.allreduce(&one, op: .sum)
    try expect(one[0] == Int32(world.size), "allreduce on duplicate gave \(one[0])")

    do {
        _ = try world.split(color: -1)
        throw CheckFailure(description: "negative colour did not throw")
    } catch MPIError.invalidArgument {}
}

/// Every rank of a one-machine job shares the node: `splitByNode` groups them all, in world order, and
/// `LaunchEnvironment` shares the CPUs between them (the tests run it without Slurm's variables).
func launchEnvironmentScenario(_ world: Communicator) throws {
    let node = try world.splitByNode()
    try expect(node.size == world.size && node.rank == world.rank,
               "splitByNode gave rank \(node.rank) of \(node.size), expected \(world.rank) of \(world.size)")
    let launch = try LaunchEnvironment.detect(world, environment: [:])
    let cpus = LaunchEnvironment.usableCPUs()
    try expect(launch == LaunchEnvironment(ranksOnNode: world.size, usableCPUs: cpus),
               "detected \(launch), expected \(world.size) ranks on \(cpus) CPUs")
    try expect(launch.threadsPerRank == max(1, cpus / world.size), "threads per rank \(launch.threadsPerRank) for \(cpus) CPUs")
    let slurm = try LaunchEnvironment.detect(world, environment: ["SLURM_CPUS_PER_TASK": "3"])
    try expect(slurm.threadsPerRank == 3, "SLURM_CPUS_PER_TASK=3 gave \(slurm.threadsPerRank) threads")
}

/// Misuse is a thrown error: double initialize, MPI's own errors, any call after finalize.
func errorsScenario(_ world: Communicator) throws {
    do {
        try MPI.initialize()
        throw CheckFailure(description: "second MPI.initialize did not throw")
    } catch MPIError.alreadyInitialized {}

    // An error from MPI itself (count -1) comes back as MPIError.mpi with MPI's message.
    do {
        var scratch: Float = 0
        try MPI.check(MPI_Bcast(&scratch, -1, cmpi_float(), 0, world.handle), "MPI_Bcast")
        throw CheckFailure(description: "MPI error was not thrown")
    } catch MPIError.mpi(_, _, let message) {
        try expect(!message.isEmpty, "MPI error without a message")
    }

    try world.barrier()
    try MPI.finalize()
    for (name, call) in [("allreduce", { var x: [Float] = [1]; try world.allreduce(&x, op: .sum) }),
                         ("barrier", { try world.barrier() }),
                         ("world", { _ = try Communicator.world }),
                         ("finalize", { try MPI.finalize() })] as [(String, () throws -> Void)] {
        do {
            try call()
            fail("\(name) after finalize did not throw")
        } catch MPIError.finalized {}
    }
    if world.rank == 0 { print("errors: passed on \(world.size) ranks") }
    exit(0)
}

/// Every rank sends its rank to the next one (a ring) with isend/irecv.
func pointToPointScenario(_ world: Communicator) throws {
    let next = (world.rank + 1) % world.size, previous = (world.rank + world.size - 1) % world.size
    let outgoing: [Int64] = [Int64(world.rank), 42]
    var incoming: [Int64] = [-1, -1]
    try outgoing.withUnsafeBufferPointer { send in
        try incoming.withUnsafeMutableBufferPointer { receive in
            let r = try world.irecv(into: receive, from: previous, tag: 7)
            let s = try world.isend(send, to: next, tag: 7)
            try Request.waitAll([r, s])
        }
    }
    try expectEqual(incoming, [Int64(previous), 42], "ring message")
    do {
        _ = try outgoing.withUnsafeBufferPointer { try world.isend($0, to: world.size, tag: 0) }
        throw CheckFailure(description: "isend to a rank outside the communicator did not throw")
    } catch MPIError.invalidArgument {}
}

// MARK: - Distributed (the trainer's synchronisation pieces)

/// Buckets posted as "backward" completes the gradients from the end, with compute in between;
/// afterwards every rank holds the average ḡᵢ = (1/N) Σ_r g_r,i. From the second step on, two scalars
/// travel beside the buckets (`finish(summing:)`) and come back summed over the ranks.
func gradientSyncScenario(_ world: Communicator) throws {
    for (count, bucketBytes) in [(1000, 64), (1003, 4 << 20), (250_001, 40_000), (1, 4)] {
        let gradients = UnsafeMutablePointer<Float>.allocate(capacity: count)
        defer { gradients.deallocate() }
        let sync = GradientSynchroniser(communicator: world, gradients: gradients, count: count, bucketBytes: bucketBytes,
                                        watchdog: try Watchdog(communicator: world, lateAfter: 30))
        for step in 0..<3 {
            for i in 0..<count { gradients[i] = Float(contribution(rank: world.rank, index: i + step)) }
            sync.beginStep(step)
            // "Backward": layers of uneven sizes complete from the end of the buffer.
            var offset = count
            var layer = 0
            while offset > 0 {
                offset = max(0, offset - (97 + 31 * layer) * (world.rank + 1))
                layer += 1
                var work = 0.0
                for i in 0..<2000 { work += Double(i) }
                try expect(work > 0, "no work")
                try sync.gradientsReady(from: offset)
            }
            if step == 0 {
                try sync.finish()
            } else {
                var scalars = [Double(world.rank) + 0.5, Double(step)]
                try sync.finish(summing: &scalars)
                let ranks = Double(world.size)
                try expect(scalars == [ranks * (ranks - 1) / 2 + 0.5 * ranks, Double(step) * ranks],
                           "count \(count), step \(step): the scalars summed to \(scalars)")
            }
            for i in 0..<count {
                let expected = Float(expectedReduction(.sum, size: world.size, index: i + step)) / Float(world.size)
                try expect(gradients[i] == expected,
                           "count \(count), bucket \(bucketBytes) B, step \(step): gradient \(i) is \(gradients[i]), expected \(expected)")
            }
        }
        try expect(sync.buckets.ranges.first?.upperBound == count && sync.buckets.ranges.last?.lowerBound == 0,
                   "buckets do not cover the buffer")
    }
}

/// The last rank arrives 3 s late at step 5's all-reduce; with a 1 s timeout, the waiting ranks report,
/// and rank 0 names the late rank. (The test reads the report from the output.)
func stallScenario(_ world: Communicator) throws {
    var value: Float = 1
    let rank = world.rank
    let watchdog = try Watchdog(communicator: world, lateAfter: 1) { print("report from rank \(rank): \($0)") }
    let sync = GradientSynchroniser(communicator: world, gradients: &value, count: 1, watchdog: watchdog)
    for step in 0..<6 {
        value = 1
        sync.beginStep(step)
        if step == 5 && world.rank == world.size - 1 && world.size > 1 { sleep(3) }
        try sync.finish()
        try expect(value == 1, "average of ones is \(value)")
    }
}

/// The watchdog with a 2 s limit: 4 s of beats every half second, then 3 s without one while it is
/// stopped, end nothing ("kept alive" on rank 0); watching again, no rank beats and the job is ended
/// (the test reads the error line and the exit code). Never ends on one rank.
func noProgressScenario(_ world: Communicator) throws {
    let watchdog = try Watchdog(communicator: world, lateAfter: nil, abortAfter: 2)
    watchdog.startWatchingProgress()
    for _ in 0..<8 {
        usleep(500_000)
        watchdog.beat()
    }
    watchdog.stopWatchingProgress()
    sleep(3)
    try world.barrier()
    if world.rank == 0 { print("no-progress: kept alive on \(world.size) ranks") }
    watchdog.startWatchingProgress()
    if world.size > 1 { sleep(60) }
    try world.barrier()
}

/// Identical parameters agree; one changed value on the last rank is found, by every rank.
func consistencyScenario(_ world: Communicator) throws {
    var values: [Float] = (0..<1000).map { Float($0) * 0.001 }
    try expectEqual(try ParameterConsistency.divergentRanks(values, count: values.count, communicator: world), [],
                    "identical parameters")
    if world.rank == world.size - 1 && world.size > 1 { values[500] = values[500].nextUp }
    let expected = world.size > 1 ? [world.size - 1] : []
    try expectEqual(try ParameterConsistency.divergentRanks(values, count: values.count, communicator: world), expected,
                    "one changed parameter")
}

/// Data parallelism computes the large-batch gradient: a small ResNet with BatchNorm frozen (running
/// statistics, as in evaluation mode) sees a global batch of 12 examples, split evenly over the ranks;
/// rank 0 writes the averaged gradient to the file named by MULTIMIX_GRADIENT_FILE, for the test to
/// compare between world sizes (1 rank on 12 examples vs 2 or 3 ranks on 6 or 4).
func gradientEquivalenceScenario(_ world: Communicator) throws {
    let globalBatch = 12, classes = 3, size = 8
    try expect(globalBatch % world.size == 0, "\(world.size) ranks do not split \(globalBatch) examples")
    let context = LayerContext(makeConvolution: { makeConvolutionKernel($0) })
    let model = ResNet(name: "resnet20/4", specification: ResNetSpecification.named("resnet20", width: 0.25)!,
                       inputChannels: 1, classCount: classes, seed: 3, context: context)
    model.isTraining = false
    let sync = GradientSynchroniser(communicator: world, gradients: model.arena.gradients,
                                    count: model.arena.trainableCount, bucketBytes: 4096)
    model.onGradientsReady = { try? sync.gradientsReady(from: $0) }
    // Example e: pixels and label from e alone, the same on every world size.
    let local = globalBatch / world.size, first = world.rank * local
    let x = Tensor(shape: [local, size, size, 1]), y = Tensor(shape: [local, classes])
    for i in 0..<local {
        let e = first + i
        for p in 0..<(size * size) { x.data[i * size * size + p] = sin(Float(e * 131 + p * 7)) }
        y.data[i * classes + e % classes] = 1
    }
    let criterion = SoftTargetCrossEntropy(context)
    sync.beginStep(0)
    _ = criterion.forward(logits: model.classify(model.pool(model.encode(x))), targets: y)
    model.encodeBackward(model.poolBackward(model.classifyBackward(criterion.backward())))
    try sync.finish()
    if world.rank == 0, let path = ProcessInfo.processInfo.environment["MULTIMIX_GRADIENT_FILE"] {
        let bytes = Data(bytes: model.arena.gradients, count: model.arena.trainableCount * MemoryLayout<Float>.stride)
        try bytes.write(to: URL(fileURLWithPath: path))
    }
}

/// Rank 1 (or the only rank) dies without finalizing while the others wait in a collective:
/// mpirun must end the job with a non-zero exit instead of hanging.
func rankDiesScenario(_ world: Communicator) throws {
    var x: [Float] = [1]
    try world.allreduce(&x, op: .sum)
    if world.rank == min(1, world.size - 1) {
        kill(getpid(), SIGKILL)
    }
    try world.allreduce(&x, op: .sum)  // never completes on the survivors
    try world.barrier()
}
