"""A consumer of the national platform as a real SOAP client: zeep, driven by the contract's own
WSDL (GetCarePlansInteraction_2.0_RIVTABP21.wsdl, as the gateway serves it at ?wsdl), reads a
person's plans from brygga's GetCarePlans 2 producer over mutual TLS.

Run by tests/api/riv.rs with
  BRYGGA_RIV_URL           the producer's endpoint (https://…/rivtabp21)
  BRYGGA_WSDL              the WSDL: the gateway's …/rivtabp21?wsdl, or a file
  BRYGGA_CA                the CA the gateway's server certificate is issued under
  BRYGGA_IDENTITY          the consumer's client certificate and key (one PEM file); unset: none
  BRYGGA_LOGICAL_ADDRESS   the RIV-TA LogicalAddress header
  BRYGGA_PERSON            the personnummer asked for
  BRYGGA_CARE_UNIT         (optional) a careUnitHSAId filter
zeep builds the request from the schema and checks the response against it (strict mode);
the script prints what it read as JSON: the result and each plan, or the SOAP fault.
"""

import base64
import json
import os

import requests
from zeep import Client, Settings
from zeep.exceptions import Fault
from zeep.transports import Transport

BINDING = (
    "{urn:riv:clinicalprocess:logistics:logistics:GetCarePlans:2:rivtabp21}"
    "GetCarePlansResponderBinding"
)
PERSONNUMMER = "1.2.752.129.2.1.3.1"


def text(value):
    return None if value is None else str(value)


def main():
    session = requests.Session()
    # Only the CA given: REQUESTS_CA_BUNDLE and proxies of the environment do not apply.
    session.trust_env = False
    session.verify = os.environ["BRYGGA_CA"]
    identity = os.environ.get("BRYGGA_IDENTITY")
    if identity:
        session.cert = identity
    client = Client(
        os.environ["BRYGGA_WSDL"],
        transport=Transport(session=session, timeout=30),
        settings=Settings(strict=True),
    )
    service = client.create_service(BINDING, os.environ["BRYGGA_RIV_URL"])
    request = {"patientId": {"id": os.environ["BRYGGA_PERSON"], "type": PERSONNUMMER}}
    if os.environ.get("BRYGGA_CARE_UNIT"):
        request["careUnitHSAId"] = [os.environ["BRYGGA_CARE_UNIT"]]
    try:
        response = service.GetCarePlans(
            _soapheaders={"LogicalAddress": os.environ["BRYGGA_LOGICAL_ADDRESS"]},
            **request,
        )
    except Fault as fault:
        print(json.dumps({"fault": fault.message, "code": fault.code}))
        return
    plans = []
    for plan in response.carePlan or []:
        header = plan.carePlanHeader
        body = plan.carePlanBody
        author = header.accountableHealthcareProfessional
        plans.append(
            {
                "documentId": header.documentId,
                "sourceSystemHSAId": header.sourceSystemHSAId,
                "documentTitle": header.documentTitle,
                "documentTime": text(header.documentTime),
                "patientId": header.patientId.id,
                "careUnit": author.healthcareProfessionalCareUnitHSAId,
                "careGiver": author.healthcareProfessionalCareGiverHSAId,
                "nullified": header.nullified,
                "type": body.typeOfCarePlanEnum,
                "units": [u.extension for u in body.participatingCareUnitHSAId or []],
                "content": [
                    {
                        "mediaType": c.mediaType,
                        # zeep decodes base64Binary into bytes.
                        "text": (
                            c.value
                            if isinstance(c.value, bytes)
                            else base64.b64decode(c.value)
                        ).decode("utf-8"),
                    }
                    for c in body.content or []
                ],
            }
        )
    result = response.result
    print(
        json.dumps(
            {
                "result": {
                    "resultCode": result.resultCode,
                    "errorCode": result.errorCode,
                    "logId": result.logId,
                    "subCode": result.subCode,
                    "message": result.message,
                },
                "plans": plans,
            },
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    main()
