"""Shows that moto (infra/moto) does not isolate concurrent TransactWriteItems.

Each round: a fresh table with FILL other items, then 16 threads at once each send the
transaction `DynamoDbStore::create_pair` sends for record sf-1 (the pair put if the pair is new,
the link put if the link is free or already this pair's). DynamoDB commits exactly one. moto's
`transact_write_items` (moto/dynamodb/models/__init__.py) deep-copies the table, checks each
condition and writes each item without a lock, and a cancelled transaction puts its copy back,
erasing a transaction committed meanwhile: some rounds end with two winners, one of whose pair
is gone. With a larger FILL, moto also fails with "dictionary changed size during iteration"
(a copy taken while another thread writes).

    .venv-moto/bin/python infra/moto-transaction-race.py "$(infra/moto url)" 100
"""
import sys
import threading
import uuid

import boto3
import botocore
import botocore.config

url = sys.argv[1]
FILL = int(sys.argv[2]) if len(sys.argv) > 2 else 100
ROUNDS = int(sys.argv[3]) if len(sys.argv) > 3 else 20
RACERS = 16
ddb = boto3.client(
    "dynamodb",
    endpoint_url=url,
    region_name="us-east-1",
    aws_access_key_id="testing",
    aws_secret_access_key="testing",
    config=botocore.config.Config(retries={"max_attempts": 1}),
)

several_winners = erased = server_errors = 0
for _ in range(ROUNDS):
    table = "race-" + uuid.uuid4().hex[:8]
    ddb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    for i in range(0, FILL, 25):
        ddb.batch_write_item(RequestItems={table: [
            {"PutRequest": {"Item": {"pk": {"S": f"X#{j}"}, "sk": {"S": "F"}, "v": {"S": "x" * 200}}}}
            for j in range(i, min(i + 25, FILL))
        ]})
    winners, errors = [], []
    barrier = threading.Barrier(RACERS)

    def create(n):
        barrier.wait()
        try:
            ddb.transact_write_items(TransactItems=[
                {"Put": {"TableName": table, "Item": {"pk": {"S": f"PAIR#p{n}"}, "sk": {"S": "META"}},
                         "ConditionExpression": "attribute_not_exists(pk)"}},
                {"Put": {"TableName": table,
                         "Item": {"pk": {"S": "SF#sf-1"}, "sk": {"S": "LINK"}, "pair_id": {"S": f"p{n}"}},
                         "ConditionExpression": "attribute_not_exists(pk) OR pair_id = :me",
                         "ExpressionAttributeValues": {":me": {"S": f"p{n}"}}}},
            ])
            winners.append(n)
        except botocore.exceptions.ClientError as e:
            if e.response["Error"]["Code"] != "TransactionCanceledException":
                errors.append(e.response["Error"]["Code"])

    threads = [threading.Thread(target=create, args=(n,)) for n in range(RACERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stored = {i["pk"]["S"] for i in ddb.scan(TableName=table)["Items"]}
    several_winners += len(winners) > 1
    erased += any(f"PAIR#p{w}" not in stored for w in winners)
    server_errors += len(errors)
    ddb.delete_table(TableName=table)

print(f"{ROUNDS} rounds of {RACERS} concurrent creates for one record (table of {FILL} other items): "
      f"{several_winners} with more than one winner, {erased} where a winner's committed pair is gone, "
      f"{server_errors} server errors")
