import RunConfig
import Training
import XCTest

/// The resume arithmetic, without MPI: a checkpoint saved on W ranks continued on W′.
final class RunPositionTests: XCTestCase {
    /// 200 steps done, 12 into epoch 3, on 4 ranks of 32 examples (global batch 128).
    let saved = RunPosition.Saved(values: [200, 2, 4, 128, 128, 12])
    /// Steps per epoch of 4096 examples at `rankBatch` per rank on `ranks` (32 steps of 128).
    func stepsPerEpoch(ranks: Int) -> (Int) -> Int { { rankBatch in 4096 / (rankBatch * ranks) } }

    func testAdvanceCountsStepsAndRollsOverEpochs() {
        var position = RunPosition(rankBatchSize: 32, worldSize: 4)
        XCTAssertEqual(position.baseGlobalBatchSize, 128)
        position.advance(pastStep: 0, ofEpoch: 0, endsEpoch: false)
        XCTAssertEqual([position.globalStep, position.epoch, position.stepInEpoch], [1, 0, 1])
        position.advance(pastStep: 7, ofEpoch: 0, endsEpoch: true)
        XCTAssertEqual([position.globalStep, position.epoch, position.stepInEpoch], [2, 1, 0])
    }

    func testSameWorldSizeContinuesTheSameBatches() throws {
        let position = try RunPosition(resuming: saved, worldSize: 4, change: .keepGlobalBatch, configBatchSize: 32,
                                       keepsOrder: true, stepsPerEpoch: stepsPerEpoch(ranks: 4))
        XCTAssertEqual([position.globalStep, position.epoch, position.stepInEpoch, position.rankBatchSize], [200, 2, 12, 32])
        XCTAssertEqual(position.learningRateScale, 1)
        XCTAssertNil(position.worldSizeNote(from: saved, worldSize: 4, change: .keepGlobalBatch))
        // A place past the epoch's end on this world size is refused, not trained from.
        XCTAssertThrowsError(try RunPosition(resuming: saved, worldSize: 4, change: .keepGlobalBatch, configBatchSize: 32,
                                             keepsOrder: true, stepsPerEpoch: { _ in 8 })) { error in
            XCTAssertTrue("\(error)".contains("which has only 8 on 4 ranks"), "\(error)")
        }
    }

    func testKeepGlobalBatchSplitsItOverTheNewRanks() throws {
        let position = try RunPosition(resuming: saved, worldSize: 2, change: .keepGlobalBatch, configBatchSize: 32,
                                       keepsOrder: true, stepsPerEpoch: stepsPerEpoch(ranks: 2))
        XCTAssertEqual([position.rankBatchSize, position.stepInEpoch, position.baseGlobalBatchSize], [64, 12, 128])
        XCTAssertEqual(position.learningRateScale, 1)
        XCTAssertEqual(position.worldSizeNote(from: saved, worldSize: 2, change: .keepGlobalBatch),
                       "resuming on 2 ranks a run of 4: global batch 128 kept, 64 per rank (distributed.on_world_size_change: keep-global-batch)")
        XCTAssertThrowsError(try RunPosition(resuming: saved, worldSize: 3, change: .keepGlobalBatch, configBatchSize: 32,
                                             keepsOrder: true, stepsPerEpoch: stepsPerEpoch(ranks: 3))) { error in
            XCTAssertTrue("\(error)".hasPrefix("the run's global batch of 128 does not split over 3 ranks"), "\(error)")
        }
    }

    func testKeepRankBatchScalesTheLearningRateAndRecountsTheStepsInTheEpoch() throws {
        // 12 steps of 128 examples = 1536 examples = 6 steps of 8 ranks × 32.
        let position = try RunPosition(resuming: saved, worldSize: 8, change: .keepRankBatch, configBatchSize: 32,
                                       keepsOrder: true, stepsPerEpoch: { _ in 100 })
        XCTAssertEqual([position.rankBatchSize, position.stepInEpoch], [32, 6])
        XCTAssertEqual(position.learningRateScale, 2)
        // 12 × 128 examples are not a whole number of steps of 5 × 32 = 160.
        XCTAssertThrowsError(try RunPosition(resuming: saved, worldSize: 5, change: .keepRankBatch, configBatchSize: 32,
                                             keepsOrder: true, stepsPerEpoch: { _ in 100 }))
    }

    func testShardsMidEpochOnlyResumeOnAsManyRanks() throws {
        XCTAssertThrowsError(try RunPosition(resuming: saved, worldSize: 2, change: .keepGlobalBatch, configBatchSize: 32,
                                             keepsOrder: false, stepsPerEpoch: stepsPerEpoch(ranks: 2))) { error in
            XCTAssertTrue("\(error)".contains("with tar shards each rank reads its own shards"), "\(error)")
        }
        var atEpochEnd = saved
        atEpochEnd.stepInEpoch = 0
        XCTAssertNoThrow(try RunPosition(resuming: atEpochEnd, worldSize: 2, change: .keepGlobalBatch, configBatchSize: 32,
                                         keepsOrder: false, stepsPerEpoch: stepsPerEpoch(ranks: 2)))
    }

    func testSavedPositionTravelsAsItsValues() {
        XCTAssertEqual(RunPosition.Saved(values: saved.values), saved)
    }
}
