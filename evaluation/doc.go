// Package evaluation is the evaluation stage of the lifecycle: the
// workflow that makes an evaluation of a model version trustworthy before
// the model meets a patient.
//
//  1. A plan is registered first (QC-EVA-2): the model version, the test
//     data set version, the operating threshold, the target prevalence,
//     the subgroup attributes and the acceptance criteria (the criteria
//     format of "ethos eval"), with at least one clinically meaningful
//     criterion and one per subgroup. Its registration is appended to the
//     audit log, whose index and time are the proof that the criteria came
//     before the results; the plan never changes afterwards.
//  2. Predictions are uploaded for a plan as CSV. They are evaluated with
//     package evalstat using the plan's settings, judged criterion by
//     criterion, audited and stored as a numbered attempt; a second upload
//     is a new attempt, never an overwrite, and the latest one counts.
//     Each attempt is recorded in the lineage graph (it used the model
//     version and the test data set version).
//  3. Reports are rendered from the stored results: the full HTML report
//     with SVG charts (ROC, calibration, forest plots, decision curve), a
//     plain-language page for non-technical readers with the groups too
//     small to judge and the limitations (QC-EVA-1), and a model card in
//     the fields of the Model Card Toolkit schema (JSON, Markdown, HTML).
//  4. Sign-off: an independent ethics reviewer approves or rejects with a
//     reason, a non-technical reviewer acknowledges the plain-language
//     page, and an ethics reviewer may waive, accountably, criteria that
//     did not pass. The stage passes only with every criterion met or
//     waived, an approval and the acknowledgement (ApprovedEvaluation).
//
// The package sees the root vocabulary and the engines (evalstat,
// svgchart) only; storage and the audit log come in through interfaces.
package evaluation
