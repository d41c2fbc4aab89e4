package ledger_test

import (
	"fmt"
	"time"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/traceledger/traceledger/ledger"
)

// A client signs the canonical bytes of a record the way a wallet's
// personal_sign does; anyone can recover the signer from the signature.
func ExampleSign() {
	key, err := crypto.HexToECDSA("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")
	if err != nil {
		panic(err)
	}
	signer := crypto.PubkeyToAddress(key.PublicKey)

	record := fmt.Sprintf(`{
		"type": "harvest", "id": "h-1", "signer": %q, "time": "2026-06-01T06:15:00+07:00",
		"lot": {"gtin": "8936000000127", "lot": "LN2606A"},
		"product": {"name": "Vải thiều Lục Ngạn"},
		"quantity": {"amount": 500.0, "unit": "KGM"},
		"place": {"name": "Phì Điền, Lục Ngạn", "geo": "21.387,106.556"}
	}`, signer.Hex())
	canonical, err := ledger.Canonicalize([]byte(record))
	if err != nil {
		panic(err)
	}
	sig, err := ledger.Sign(key, canonical)
	if err != nil {
		panic(err)
	}
	recovered, err := ledger.Recover(canonical, sig)
	if err != nil {
		panic(err)
	}
	fmt.Println(string(canonical))
	fmt.Println("signer:   ", signer.Hex())
	fmt.Println("recovered:", recovered.Hex())
	fmt.Printf("signature: 0x%x\n", sig) // deterministic (RFC 6979), v = 27 or 28

	// The envelope passes every stateless check.
	env := ledger.Envelope{Record: []byte(record), Signature: fmt.Sprintf("0x%x", sig)}
	adm, err := ledger.Admit(env, time.Time{})
	if err != nil {
		panic(err)
	}
	fmt.Println("admitted:", adm.Record.Type, adm.Record.Harvest.Lot, adm.Signer == signer)
	// Output:
	// {"id":"h-1","lot":{"gtin":"8936000000127","lot":"LN2606A"},"place":{"geo":"21.387,106.556","name":"Phì Điền, Lục Ngạn"},"product":{"name":"Vải thiều Lục Ngạn"},"quantity":{"amount":500,"unit":"KGM"},"signer":"0x2c7536E3605D9C16a7a3D7b1898e529396a65c23","time":"2026-06-01T06:15:00+07:00","type":"harvest"}
	// signer:    0x2c7536E3605D9C16a7a3D7b1898e529396a65c23
	// recovered: 0x2c7536E3605D9C16a7a3D7b1898e529396a65c23
	// signature: 0x9b0f7f6489bbed62015868e08f482a1d4600790ff2ee0875e37892f14c6f8d24142f62196de1e75c4b88b27c011d42339fd393d8ed9cce74b47988bea9f337001c
	// admitted: harvest 08936000000127/LN2606A true
}
