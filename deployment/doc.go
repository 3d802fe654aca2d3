// Package deployment is the last lifecycle stage: the workflow that makes
// the framework's deployment rules happen. This part is pure logic with no
// storage: the risk register and its completeness check before go-live
// (QC-DEP-3), the notification deadlines of incidents and personal-data
// breaches under GDPR, the EU AI Act and HIPAA, and the compliance
// checklist evaluated from evidence or attestations (QC-DEP-2).
package deployment
