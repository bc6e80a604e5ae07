-- A SQLite database as easlab cb5e698 made it: that commit's storage/models*.py, create_all,
-- then a few rows (one user, an Inbox item, two devices, their children) and two orphans of a
-- device removed before the cascades existed (hierarchy_echo 2, find_search 2: device_pk 9).
-- Made once with sqlite3's iterdump; tests/storage/test_migration.py opens it with today's
-- Database.  Do not regenerate it from a newer schema: its point is to be old.
BEGIN TRANSACTION;
CREATE TABLE accessrule (
	id INTEGER NOT NULL, 
	name VARCHAR(64) NOT NULL, 
	characteristic VARCHAR(16) NOT NULL, 
	"query" VARCHAR(1024) NOT NULL, 
	access_level VARCHAR(16) NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id)
);
CREATE TABLE device (
	id INTEGER NOT NULL, 
	user_id INTEGER NOT NULL, 
	device_id VARCHAR(64) NOT NULL, 
	device_type VARCHAR(64) NOT NULL, 
	user_agent VARCHAR(512) NOT NULL, 
	protocol_version VARCHAR(8) NOT NULL, 
	first_sync DATETIME NOT NULL, 
	last_sync DATETIME NOT NULL, 
	hierarchy_key VARCHAR(64) NOT NULL, 
	hierarchy_prev_key VARCHAR(64) NOT NULL, 
	hierarchy_seq INTEGER NOT NULL, 
	hierarchy_prev_seq INTEGER NOT NULL, 
	cached_sync BLOB NOT NULL, 
	ping_heartbeat INTEGER NOT NULL, 
	ping_folders TEXT NOT NULL, 
	model VARCHAR(256) NOT NULL, 
	imei VARCHAR(64) NOT NULL, 
	friendly_name VARCHAR(256) NOT NULL, 
	os VARCHAR(256) NOT NULL, 
	os_language VARCHAR(64) NOT NULL, 
	phone_number VARCHAR(64) NOT NULL, 
	mobile_operator VARCHAR(128) NOT NULL, 
	info_user_agent VARCHAR(512) NOT NULL, 
	recovery_password VARCHAR(256) NOT NULL, 
	temp_policy_key BIGINT, 
	policy_key BIGINT, 
	policy_name VARCHAR(64) NOT NULL, 
	policy_status VARCHAR(32) NOT NULL, 
	provisioned_at DATETIME, 
	wipe_state VARCHAR(16) NOT NULL, 
	wipe_account_only BOOLEAN NOT NULL, 
	wipe_requested_at DATETIME, 
	wipe_sent_at DATETIME, 
	wipe_ack_at DATETIME, 
	access_state VARCHAR(16) NOT NULL, 
	access_reason VARCHAR(16) NOT NULL, 
	access_rule VARCHAR(64) NOT NULL, 
	access_step VARCHAR(32) NOT NULL, 
	access_changed_at DATETIME, 
	quarantine_notice_id INTEGER, 
	PRIMARY KEY (id), 
	UNIQUE (user_id, device_id), 
	FOREIGN KEY(user_id) REFERENCES user (id)
);
INSERT INTO "device" VALUES(1,1,'PhoneA','iPhone','Apple-iPhone','14.1','2026-01-05 09:00:00.000000','2026-01-05 09:31:00.000000','1','0',1,0,X'',0,'','','','','','','','','','',NULL,NULL,'','Unknown',NULL,'none',0,NULL,NULL,NULL,'Allowed','Individual','','individual','2026-01-05 09:00:00.000000',NULL);
INSERT INTO "device" VALUES(2,1,'PhoneB','Android','Android/14','16.1','2026-01-05 10:00:00.000000','2026-01-05 10:00:00.000000','','',0,0,X'',0,'','','','','','','','','','',NULL,NULL,'','Unknown',NULL,'none',0,NULL,NULL,NULL,'Allowed','Global','','global',NULL,NULL);
CREATE TABLE deviceaccesschange (
	id INTEGER NOT NULL, 
	device_pk INTEGER NOT NULL, 
	at DATETIME NOT NULL, 
	old_state VARCHAR(16) NOT NULL, 
	new_state VARCHAR(16) NOT NULL, 
	reason VARCHAR(16) NOT NULL, 
	rule VARCHAR(64) NOT NULL, 
	step VARCHAR(32) NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(device_pk) REFERENCES device (id)
);
INSERT INTO "deviceaccesschange" VALUES(1,1,'2026-01-05 09:00:00.000000','Unknown','Allowed','Individual','','individual');
CREATE TABLE fault (
	id INTEGER NOT NULL, 
	user VARCHAR(64), 
	device_id VARCHAR(64), 
	command VARCHAR(32), 
	kind VARCHAR(16) NOT NULL, 
	params TEXT NOT NULL, 
	remaining INTEGER, 
	expires_at DATETIME, 
	created_at DATETIME NOT NULL, 
	hits INTEGER NOT NULL, 
	last_hit_at DATETIME, 
	PRIMARY KEY (id)
);
CREATE TABLE find_search (
	id INTEGER NOT NULL, 
	device_pk INTEGER NOT NULL, 
	search_id VARCHAR(128) NOT NULL, 
	started_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (device_pk, search_id)
);
INSERT INTO "find_search" VALUES(1,1,'s-1','2026-01-05 09:33:00.000000');
INSERT INTO "find_search" VALUES(2,9,'s-9','2026-01-04 08:00:00.000000');
CREATE TABLE folder (
	id INTEGER NOT NULL, 
	user_id INTEGER NOT NULL, 
	server_id VARCHAR(64) NOT NULL, 
	parent_id VARCHAR(64) NOT NULL, 
	display_name VARCHAR(256) NOT NULL, 
	type INTEGER NOT NULL, 
	created_seq INTEGER NOT NULL, 
	modified_seq INTEGER NOT NULL, 
	deleted BOOLEAN NOT NULL, 
	change_seq INTEGER NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (user_id, server_id), 
	FOREIGN KEY(user_id) REFERENCES user (id)
);
INSERT INTO "folder" VALUES(1,1,'5','0','Inbox',2,1,1,0,1);
CREATE TABLE hierarchy_echo (
	id INTEGER NOT NULL, 
	device_pk INTEGER NOT NULL, 
	folder_id INTEGER NOT NULL, 
	seq INTEGER NOT NULL, 
	kind VARCHAR(8) NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(folder_id) REFERENCES folder (id)
);
INSERT INTO "hierarchy_echo" VALUES(1,1,1,1,'create');
INSERT INTO "hierarchy_echo" VALUES(2,9,1,1,'update');
CREATE TABLE item (
	id INTEGER NOT NULL, 
	folder_id INTEGER NOT NULL, 
	server_id VARCHAR(64) NOT NULL, 
	message_class VARCHAR(128) NOT NULL, 
	subject TEXT NOT NULL, 
	sender TEXT NOT NULL, 
	"to" TEXT NOT NULL, 
	cc TEXT NOT NULL, 
	reply_to TEXT NOT NULL, 
	display_to TEXT NOT NULL, 
	thread_topic TEXT NOT NULL, 
	date_received DATETIME NOT NULL, 
	importance INTEGER NOT NULL, 
	read BOOLEAN NOT NULL, 
	flag_status INTEGER NOT NULL, 
	flag_type VARCHAR(128) NOT NULL, 
	internet_cpid INTEGER NOT NULL, 
	conversation_id BLOB NOT NULL, 
	conversation_index BLOB NOT NULL, 
	body_text TEXT NOT NULL, 
	body_html TEXT NOT NULL, 
	attachments TEXT NOT NULL, 
	mime BLOB NOT NULL, 
	size INTEGER NOT NULL, 
	bcc TEXT NOT NULL, 
	is_draft BOOLEAN NOT NULL, 
	pim TEXT NOT NULL, 
	uid VARCHAR(300) NOT NULL, 
	created_seq INTEGER NOT NULL, 
	modified_seq INTEGER NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (folder_id, server_id), 
	FOREIGN KEY(folder_id) REFERENCES folder (id)
);
INSERT INTO "item" VALUES(1,1,'5:1','IPM.Note','Hello','bob@easlab.test','alice@easlab.test','','','','Hello','2026-01-05 09:30:00.000000',1,0,0,'',65001,X'',X'','hi','','[{"name": "a.txt", "size": 3}]',X'',3,'',0,'','',1,1);
CREATE TABLE itemchange (
	id INTEGER NOT NULL, 
	folder_id INTEGER NOT NULL, 
	seq INTEGER NOT NULL, 
	item_id INTEGER NOT NULL, 
	server_id VARCHAR(64) NOT NULL, 
	kind VARCHAR(8) NOT NULL, 
	at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(folder_id) REFERENCES folder (id)
);
INSERT INTO "itemchange" VALUES(1,1,1,1,'5:1','add','2026-01-05 09:30:00.000000');
CREATE TABLE oofreply (
	id INTEGER NOT NULL, 
	user_id INTEGER NOT NULL, 
	sender VARCHAR(320) NOT NULL, 
	sent_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (user_id, sender), 
	FOREIGN KEY(user_id) REFERENCES user (id)
);
CREATE TABLE oofsettings (
	id INTEGER NOT NULL, 
	user_id INTEGER NOT NULL, 
	state INTEGER NOT NULL, 
	start_time DATETIME, 
	end_time DATETIME, 
	internal_enabled BOOLEAN NOT NULL, 
	internal_message TEXT NOT NULL, 
	internal_html BOOLEAN NOT NULL, 
	known_enabled BOOLEAN NOT NULL, 
	known_message TEXT NOT NULL, 
	known_html BOOLEAN NOT NULL, 
	unknown_enabled BOOLEAN NOT NULL, 
	unknown_message TEXT NOT NULL, 
	unknown_html BOOLEAN NOT NULL, 
	changed_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(user_id) REFERENCES user (id)
);
CREATE TABLE orgsettings (
	id INTEGER NOT NULL, 
	default_access VARCHAR(16) NOT NULL, 
	admin_mail_recipients TEXT NOT NULL, 
	user_mail_insert VARCHAR(256) NOT NULL, 
	max_devices INTEGER NOT NULL, 
	blocked_delay INTEGER NOT NULL, 
	discovery_minutes INTEGER NOT NULL, 
	secret VARCHAR(128) NOT NULL, 
	PRIMARY KEY (id)
);
CREATE TABLE outboundmail (
	id INTEGER NOT NULL, 
	created_at DATETIME NOT NULL, 
	sender VARCHAR(320) NOT NULL, 
	recipients TEXT NOT NULL, 
	subject TEXT NOT NULL, 
	mime BLOB NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	attempts INTEGER NOT NULL, 
	last_error TEXT NOT NULL, 
	next_attempt_at DATETIME, 
	sent_at DATETIME, 
	PRIMARY KEY (id)
);
CREATE TABLE policy (
	id INTEGER NOT NULL, 
	name VARCHAR(64) NOT NULL, 
	is_default BOOLEAN NOT NULL, 
	settings TEXT NOT NULL, 
	changed_at DATETIME NOT NULL, 
	PRIMARY KEY (id)
);
CREATE TABLE sentclientid (
	id INTEGER NOT NULL, 
	device_pk INTEGER NOT NULL, 
	client_id VARCHAR(64) NOT NULL, 
	command VARCHAR(16) NOT NULL, 
	sent_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (device_pk, client_id), 
	FOREIGN KEY(device_pk) REFERENCES device (id)
);
INSERT INTO "sentclientid" VALUES(1,1,'c-1','SendMail','2026-01-05 09:32:00.000000');
CREATE TABLE syncstate (
	id INTEGER NOT NULL, 
	device_pk INTEGER NOT NULL, 
	collection_id VARCHAR(64) NOT NULL, 
	sync_key VARCHAR(64) NOT NULL, 
	prev_key VARCHAR(64) NOT NULL, 
	seq INTEGER NOT NULL, 
	snapshot_seq INTEGER NOT NULL, 
	initial_cursor INTEGER, 
	window_start DATETIME, 
	options TEXT NOT NULL, 
	supported TEXT NOT NULL, 
	last_response BLOB NOT NULL, 
	presented TEXT NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (device_pk, collection_id), 
	FOREIGN KEY(device_pk) REFERENCES device (id)
);
INSERT INTO "syncstate" VALUES(1,1,'5','2','1',1,1,NULL,'2025-12-29 09:00:00.000000','{"filter_type": 3}','',X'','[7]');
INSERT INTO "syncstate" VALUES(2,2,'5','1','0',0,1,NULL,NULL,'{}','',X'','[]');
CREATE TABLE traceentry (
	id INTEGER NOT NULL, 
	user VARCHAR(64) NOT NULL, 
	device_id VARCHAR(64) NOT NULL, 
	at DATETIME NOT NULL, 
	duration_ms FLOAT NOT NULL, 
	method VARCHAR(8) NOT NULL, 
	path TEXT NOT NULL, 
	command VARCHAR(32) NOT NULL, 
	request_headers TEXT NOT NULL, 
	request_body BLOB NOT NULL, 
	status INTEGER NOT NULL, 
	response_headers TEXT NOT NULL, 
	response_body BLOB NOT NULL, 
	note TEXT NOT NULL, 
	size INTEGER NOT NULL, 
	PRIMARY KEY (id)
);
CREATE TABLE tracesetting (
	id INTEGER NOT NULL, 
	user VARCHAR(64) NOT NULL, 
	device_id VARCHAR(64) NOT NULL, 
	enabled BOOLEAN NOT NULL, 
	max_entries INTEGER NOT NULL, 
	max_bytes INTEGER NOT NULL, 
	changed_at DATETIME NOT NULL, 
	dropped INTEGER NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (user, device_id)
);
CREATE TABLE user (
	id INTEGER NOT NULL, 
	name VARCHAR(64) NOT NULL, 
	display_name VARCHAR(256) NOT NULL, 
	password_hash VARCHAR(256) NOT NULL, 
	created_at DATETIME NOT NULL, 
	hierarchy_seq INTEGER NOT NULL, 
	policy_id INTEGER, 
	activesync_enabled BOOLEAN NOT NULL, 
	allowed_device_ids TEXT NOT NULL, 
	blocked_device_ids TEXT NOT NULL, 
	role VARCHAR(32) NOT NULL, 
	max_devices_mail_at DATETIME, 
	PRIMARY KEY (id), 
	FOREIGN KEY(policy_id) REFERENCES policy (id)
);
INSERT INTO "user" VALUES(1,'alice','Alice','x','2026-01-05 09:00:00.000000',1,NULL,1,'["PhoneA"]','[]','',NULL);
CREATE TABLE userdirectory (
	user_id INTEGER NOT NULL, 
	first_name VARCHAR(64) NOT NULL, 
	last_name VARCHAR(64) NOT NULL, 
	phone VARCHAR(64) NOT NULL, 
	office VARCHAR(128) NOT NULL, 
	title VARCHAR(128) NOT NULL, 
	company VARCHAR(64) NOT NULL, 
	home_phone VARCHAR(64) NOT NULL, 
	mobile_phone VARCHAR(64) NOT NULL, 
	external_address VARCHAR(320) NOT NULL, 
	picture BLOB NOT NULL, 
	certificate BLOB NOT NULL, 
	PRIMARY KEY (user_id), 
	FOREIGN KEY(user_id) REFERENCES user (id)
);
CREATE UNIQUE INDEX ix_accessrule_name ON accessrule (name);
CREATE UNIQUE INDEX ix_policy_name ON policy (name);
CREATE INDEX ix_fault_user ON fault (user);
CREATE INDEX ix_traceentry_owner ON traceentry (user, device_id, id);
CREATE INDEX ix_find_search_device_pk ON find_search (device_pk);
CREATE UNIQUE INDEX ix_user_name ON user (name);
CREATE INDEX ix_folder_user_id ON folder (user_id);
CREATE INDEX ix_device_user_id ON device (user_id);
CREATE UNIQUE INDEX ix_oofsettings_user_id ON oofsettings (user_id);
CREATE INDEX ix_oofreply_user_id ON oofreply (user_id);
CREATE INDEX ix_item_folder_received ON item (folder_id, date_received);
CREATE INDEX ix_item_folder_id ON item (folder_id);
CREATE INDEX ix_item_uid ON item (uid);
CREATE INDEX ix_change_folder_seq ON itemchange (folder_id, seq);
CREATE INDEX ix_deviceaccesschange_device_pk ON deviceaccesschange (device_pk);
CREATE INDEX ix_syncstate_device_pk ON syncstate (device_pk);
CREATE INDEX ix_sentclientid_device_pk ON sentclientid (device_pk);
CREATE INDEX ix_hierarchy_echo_device ON hierarchy_echo (device_pk, seq);
COMMIT;
