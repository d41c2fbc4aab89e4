// Package epcisevent checks one GS1 EPCIS 2.0 event in the JSON-LD
// binding, as the ledger's `epcis` record carries it, and computes what
// the ledger derives from it:
//
//   - Check: the event against the GS1 EPCIS 2.0 JSON Schema
//     (EPCIS-JSON-Schema.json, compiled in, with the errata of
//     applyErrata) and the CBV 2.0 rules for bizStep and disposition (a
//     CBV term, or a URI); ValidateSchema for whole documents;
//   - Hash: the GS1 canonical event hash (EPCIS 2.0 §8.9), the id of an
//     event without an eventID;
//   - Summarize: the fields the query interface indexes (event type and
//     time, bizStep, disposition, bizLocation, the EPCs and EPC classes,
//     and among those the lots named by GTIN and lot code);
//   - CanonicalDL: the canonical GS1 Digital Link URI of an EPC URI;
//   - SplitDocument and WithContext: the events of a captured document,
//     each carrying the document's @context as a stored event must.
//
// The package is pure: no I/O but its embedded files, no clock.
package epcisevent
