import Foundation
import RunConfig
import TestSupport
import Training
import XCTest

/// `multimix data pack` and `multimix train` on tar shards as users run them: the image folder of
/// the tests above packed into 6 training shards, 2 ranks under `mpirun`, a shuffle buffer of 50
/// (the helpers are ImageFolderRunTests').
extension ImageFolderRunTests {
    /// Packed into 6 shards of at most 100 kB: 2 ranks train 2 epochs (each rank's 3 smallest shards
    /// bound its steps: 6 of 16); stopped after 7 steps (mid-epoch) and resumed, the run ends bit for
    /// bit where the uninterrupted one does; `multimix eval` on its checkpoint gives the run's top-1.
    /// Packing again into the folder is refused in one line.
    func testShardsPackTrainAndResumeBitForBit() throws {
        let root = try ImageFolderFixture.folder(size: 32, trainPerClass: 20, valPerClass: 5)
        let shards = folder.appendingPathComponent("shards").path
        let pack = try MPIRun.launch([multimix, "data", "pack", root, "--into", shards, "--shard-mb", "0.1"], timeout: 120)
        XCTAssertEqual(pack.status, 0, pack.output)
        XCTAssertTrue(pack.output.contains("train: 200 images in 6 shards"), pack.output)
        XCTAssertTrue(pack.output.contains("val: 50 images in 2 shards"), pack.output)
        let again = try MPIRun.launch([multimix, "data", "pack", root, "--into", shards], timeout: 60)
        XCTAssertEqual(again.status, 1, again.output)
        let errors = again.output.split(separator: "\n").filter { $0.contains("multimix: error:") }
        XCTAssertEqual(errors.count, 1, again.output)
        XCTAssertTrue(errors.first?.contains("holds 9 files") ?? false, again.output)

        let path = try config("shards", root: shards, dataset: "shards", data: ", shuffle_buffer: 50")
        try assertResumesBitForBitAndEvaluatesOffline(path, stopAt: 7, lastStep: 12)
        // Mid-epoch on another number of ranks: refused (each rank's shards depend on it).
        let midway = folder.appendingPathComponent("midway")
        XCTAssertEqual(try train(path, run: midway, arguments: ["--max-steps", "7"]).status, 0)
        let elsewhere = try MPIRun.run(ranks: 1, program: multimix, arguments: ["train", "--config", path, "--run-dir", midway.path],
                                       timeout: 120, environment: ["MULTIMIX_PROGRESS": "lines"])
        XCTAssertNotEqual(elsewhere.status, 0, elsewhere.output)
        XCTAssertTrue(elsewhere.output.contains("each rank reads its own shards"), elsewhere.output)

        // Settings shards cannot honour are refused before any work, in one line.
        try assertRefused(path, [(["--set", "data.shuffle_buffer=0"], "data.shuffle_buffer: 0 is not allowed"),
                                 (["--set", "data.train_subset=10"], "data.train_subset"),
                                 (["--set", "data.root=\(root)"], "no shard index")])
    }

    /// `data.shuffle_buffer` is written for shards only: image-folder and built-in configs keep their text and hash.
    func testShardsShuffleBufferIsWrittenForShardsOnly() throws {
        let shards = try TrainingConfig.parse(yaml: "data: {dataset: shards, root: /data/shards, shuffle_buffer: 7}")
        XCTAssertEqual(shards.data.shuffleBuffer, 7)
        XCTAssertTrue(try shards.yamlText().contains("shuffle_buffer: 7"))
        XCTAssertEqual(shards.data.augment.cropPadding, 0)
        let folder = try TrainingConfig.parse(yaml: "data: {dataset: image-folder, root: /data/images}")
        XCTAssertFalse(try folder.yamlText().contains("shuffle_buffer"))
        XCTAssertFalse(try TrainingConfig.parse(yaml: "seed: 1").yamlText().contains("shuffle_buffer"))
    }
}
